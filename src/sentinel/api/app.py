"""The FastAPI application factory."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request, Response

from sentinel import __version__
from sentinel.alerts.routes import router as alerts_router
from sentinel.api import health
from sentinel.api.problems import install_problem_handlers
from sentinel.api.resources import Resources
from sentinel.audit.routes import router as audit_router
from sentinel.auth.browser import install_transparent_refresh
from sentinel.auth.browser import router as browser_router
from sentinel.auth.routes import router as auth_router
from sentinel.billing.routes import router as billing_router
from sentinel.commands.routes import router as commands_router
from sentinel.config import Settings
from sentinel.devices.agent_routes import router as agent_router
from sentinel.devices.routes import router as devices_router
from sentinel.live.routes import router as live_router
from sentinel.orgs.routes import router as orgs_router
from sentinel.privacy.routes import router as privacy_router
from sentinel.ratelimit.middleware import install_global_limit
from sentinel.telemetry.routes import router as telemetry_router
from sentinel.web.routes import router as web_router

ROUTERS = (
    health.router,
    auth_router,
    browser_router,
    orgs_router,
    audit_router,
    devices_router,
    agent_router,
    telemetry_router,
    live_router,
    commands_router,
    web_router,
    billing_router,
    alerts_router,
    privacy_router,
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def install_request_ids(app: FastAPI) -> None:
    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        incoming = request.headers.get("x-request-id", "")
        rid = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(8)
        request.state.request_id = rid
        with structlog.contextvars.bound_contextvars(request_id=rid):
            response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        return response


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.resources = await Resources.open(settings)
        try:
            yield
        finally:
            await app.state.resources.close()

    app = FastAPI(
        title="Sentinel",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    install_problem_handlers(app)
    install_global_limit(app)
    install_transparent_refresh(app)
    install_request_ids(app)
    for router in ROUTERS:
        app.include_router(router)
    return app
