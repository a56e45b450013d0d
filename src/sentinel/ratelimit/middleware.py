"""The global per-client limit (100/min by default) in front of every route.

The client is whoever a valid credential names: the signed-in user for a valid access token
(ours, or the external identity provider's), the device for an active device token. Requests
without a valid credential are counted per address (taken from X-Forwarded-For only when the
request came through the trusted proxy). Devices and people must not share the address bucket:
a school's computers behind one NAT address would otherwise use it up, and staff behind the
same address could not even sign in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from sentinel.api.problems import problem_response
from sentinel.api.resources import Resources
from sentinel.auth.principal import ACCESS_COOKIE, bearer_token
from sentinel.auth.tokens import InvalidToken
from sentinel.devices.credentials import DEVICE_TOKEN_PREFIX, sha256
from sentinel.devices.queries import credential_by_token
from sentinel.logging import get_logger

log = get_logger(__name__)
EXEMPT = frozenset({"/healthz", "/readyz"})


async def _device_key(resources: Resources, token: str) -> str | None:
    try:
        async with resources.pool.acquire() as conn:
            row = await credential_by_token(conn, sha256(token))
    except Exception as exc:  # the route reports the failure; here the address still counts
        log.warning("could not look up a device token", error=exc.__class__.__name__)
        return None
    if row is None or row["status"] != "active":
        return None
    # The organization id in the key lets erasure find it (`*<org_id>*`).
    return f"device:{row['org_id']}/{row['device_id']}"


async def _user_key(resources: Resources, token: str) -> str | None:
    try:
        principal = await resources.verifier.verify(token)
    except InvalidToken:
        return None
    except Exception as exc:  # e.g. the database of an external provider's user mapping
        log.warning("could not verify an access token", error=exc.__class__.__name__)
        return None
    return f"user:{principal.user_id}"


async def client_key(request: Request, resources: Resources) -> str:
    bearer = bearer_token(request)
    key = None
    if bearer is not None and bearer.startswith(DEVICE_TOKEN_PREFIX):
        key = await _device_key(resources, bearer)
    else:
        token = bearer or request.cookies.get(ACCESS_COOKIE)
        if token:
            key = await _user_key(resources, token)
    return key or f"ip:{request.client.host if request.client else 'unknown'}"


def install_global_limit(app: FastAPI) -> None:
    @app.middleware("http")
    async def global_limit(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path in EXEMPT:
            return await call_next(request)
        resources: Resources = request.app.state.resources
        decision = await resources.limiter.hit("global", await client_key(request, resources))
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
