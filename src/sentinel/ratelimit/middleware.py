"""The global per-client limit (100/min by default) in front of every route.

The client is the signed-in user when the request carries a valid access token, else the
address (taken from X-Forwarded-For only when the request came through the trusted proxy).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from sentinel.api.problems import problem_response
from sentinel.api.resources import Resources
from sentinel.auth.principal import ACCESS_COOKIE, bearer_token
from sentinel.auth.tokens import InvalidToken

EXEMPT = frozenset({"/healthz", "/readyz"})


def client_key(request: Request, resources: Resources) -> str:
    token = bearer_token(request) or request.cookies.get(ACCESS_COOKIE)
    if token and resources.settings.auth_provider == "local":
        try:
            return f"user:{resources.access_tokens.verify(token).user_id}"
        except InvalidToken:
            pass
    return f"ip:{request.client.host if request.client else 'unknown'}"


def install_global_limit(app: FastAPI) -> None:
    @app.middleware("http")
    async def global_limit(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path in EXEMPT:
            return await call_next(request)
        resources: Resources = request.app.state.resources
        decision = await resources.limiter.hit("global", client_key(request, resources))
        if not decision.allowed:
            response: Response = problem_response(
                429,
                "rate_limited",
                "Too many requests",
                "Slow down and retry after the time in Retry-After.",
            )
        else:
            response = await call_next(request)
        for name, value in decision.headers().items():
            response.headers.setdefault(name, value)
        return response
