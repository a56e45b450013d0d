"""Browser sessions: the same grants as `/auth/v1/token`, carried in cookies.

- `sentinel_at`: the access token; HttpOnly, Secure, SameSite=Lax, whole site.
- `sentinel_rt`: the refresh token; HttpOnly, Secure, SameSite=Strict (never sent by a
  cross-site request), site-wide so that any page load can refresh transparently.
- `sentinel_csrf`: a random value readable by our own scripts; every state-changing request
  authenticated by cookie must echo it in `X-CSRF-Token` (double submit).

Transparent refresh: when a request carries a refresh cookie but no valid access cookie, the
middleware rotates the refresh token first and sets fresh cookies on the response, so pages
keep working for as long as the session lives.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.requests import cookie_parser

from sentinel.api.deps import Res
from sentinel.auth.errors import InvalidGrant, Unauthorized
from sentinel.auth.principal import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    REFRESH_COOKIE,
    check_csrf,
    current_principal,
)
from sentinel.auth.service import Grant
from sentinel.auth.tokens import InvalidToken

router = APIRouter(prefix="/auth/v1/browser", tags=["auth"])
REFRESH_PATH = "/"
REFRESH_MAX_AGE = 30 * 24 * 3600
# Routes that handle the session's tokens themselves; the rest of `/auth/v1` (the user, their
# sessions) is refreshed transparently like every other page.
NO_TRANSPARENT_REFRESH = (
    "/auth/v1/browser/",
    "/auth/v1/token",
    "/auth/v1/signup",
    "/auth/v1/logout",
    "/auth/v1/.well-known/",
)


def set_session_cookies(response: Response, grant: Grant, access_ttl: int) -> str:
    csrf = secrets.token_urlsafe(32)
    response.set_cookie(
        ACCESS_COOKIE,
        grant.access_token,
        max_age=access_ttl,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )
    response.set_cookie(
        REFRESH_COOKIE,
        grant.refresh_token,
        max_age=REFRESH_MAX_AGE,
        path=REFRESH_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=REFRESH_MAX_AGE,
        path="/",
        secure=True,
        httponly=False,
        samesite="strict",
    )
    return csrf


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(ACCESS_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
    response.delete_cookie(
        REFRESH_COOKIE, path=REFRESH_PATH, secure=True, httponly=True, samesite="strict"
    )
    response.delete_cookie(CSRF_COOKIE, path="/", secure=True, samesite="strict")


def _browser_body(grant: Grant, csrf: str) -> dict[str, Any]:
    return {"user": grant.user, "expires_at": grant.expires_at, "csrf_token": csrf}


async def start_browser_session(grant: Grant, response: Response, res: Res) -> dict[str, Any]:
    csrf = set_session_cookies(response, grant, res.settings.access_token_ttl_seconds)
    return _browser_body(grant, csrf)


@router.post("/refresh")
async def refresh(request: Request, response: Response, res: Res) -> dict[str, Any]:
    check_csrf(request)
    token = request.cookies.get(REFRESH_COOKIE)
    if not token:
        raise Unauthorized("No browser session.")
    try:
        grant = await res.auth.refresh(token)
    except InvalidGrant:
        clear_session_cookies(response)
        raise
    return await start_browser_session(grant, response, res)


@router.post("/logout", status_code=204)
async def logout(request: Request, res: Res) -> Response:
    """End the session and clear the cookies. The access cookie lives minutes and the session
    weeks, so when the access cookie is gone or expired the refresh cookie names the session
    (the middleware does not run on `/auth/` paths)."""
    try:
        user = await current_principal(request, res)  # checks CSRF for cookie requests
    except Unauthorized:
        user = None
    if user is not None:
        await res.auth.logout(user.user_id, user.session_id, "local")
    else:
        check_csrf(request)
        token = request.cookies.get(REFRESH_COOKIE)
        if not token:
            raise Unauthorized("No browser session.")
        try:
            grant = await res.auth.refresh(token)
        except InvalidGrant:
            pass  # the session is already over
        else:
            await res.auth.logout(UUID(grant.user["id"]), grant.session_id, "local")
    response = Response(status_code=204)
    clear_session_cookies(response)
    return response


def install_transparent_refresh(app: FastAPI) -> None:
    @app.middleware("http")
    async def transparent_refresh(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        refresh_token = request.cookies.get(REFRESH_COOKIE)
        if (
            refresh_token is None
            or request.url.path.startswith(NO_TRANSPARENT_REFRESH)
            or request.headers.get("authorization")
        ):
            return await call_next(request)
        res = request.app.state.resources
        access = request.cookies.get(ACCESS_COOKIE)
        if access:
            try:
                res.access_tokens.verify(access)
                return await call_next(request)
            except InvalidToken:
                pass
        try:
            grant = await res.auth.refresh(refresh_token)
        except InvalidGrant:
            response = await call_next(request)
            clear_session_cookies(response)
            return response
        csrf = request.cookies.get(CSRF_COOKIE)
        _replace_cookie(request, ACCESS_COOKIE, grant.access_token)
        response = await call_next(request)
        set_session_cookies(response, grant, res.settings.access_token_ttl_seconds)
        if csrf:  # keep the page's CSRF token valid across the refresh
            response.set_cookie(
                CSRF_COOKIE,
                csrf,
                max_age=REFRESH_MAX_AGE,
                path="/",
                secure=True,
                httponly=False,
                samesite="strict",
            )
        return response


def _replace_cookie(request: Request, name: str, value: str) -> None:
    """Let the rest of this request see the fresh access token."""
    # Starlette's lenient parser, as for `request.cookies`: `SimpleCookie` gives up on the
    # whole header at the first cookie it cannot parse (JSON, spaces), which would drop the
    # CSRF cookie from the rest of the request.
    jar = cookie_parser(request.headers.get("cookie", ""))
    jar[name] = value
    header = "; ".join(f"{key}={item}" for key, item in jar.items())
    headers = [(k, v) for k, v in request.scope["headers"] if k != b"cookie"]
    headers.append((b"cookie", header.encode("latin-1")))
    request.scope["headers"] = headers
    request.__dict__.pop("_cookies", None)
