"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from sentinel import __version__
from sentinel.api import health
from sentinel.api.problems import install_problem_handlers
from sentinel.api.resources import Resources
from sentinel.config import Settings


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
    app.include_router(health.router)
    return app
