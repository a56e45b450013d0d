"""The `CurrentUser` dependency: bearer header or browser cookie, CSRF for cookie writes,
and immediate refusal of revoked sessions (Redis on every call, PostgreSQL on every write).
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request

from sentinel.api.deps import Res
from sentinel.auth.errors import CsrfFailed, Unauthorized
from sentinel.auth.tokens import InvalidToken
from sentinel.auth.verifier import Principal
from sentinel.logging import get_logger

log = get_logger(__name__)
ACCESS_COOKIE = "sentinel_at"
REFRESH_COOKIE = "sentinel_rt"
CSRF_COOKIE = "sentinel_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def check_csrf(request: Request) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), header.encode()):
        raise CsrfFailed()


async def current_principal(request: Request, res: Res) -> Principal:
    token = bearer_token(request)
    via_cookie = False
    if token is None:
        token = request.cookies.get(ACCESS_COOKIE)
        via_cookie = token is not None
    if not token:
        raise Unauthorized()
    if via_cookie and request.method not in SAFE_METHODS:
        check_csrf(request)
    try:
        principal = await res.verifier.verify(token)
    except InvalidToken as exc:
        log.info("access token rejected", reason=str(exc))
        raise Unauthorized("The access token is invalid or expired.") from None
    if principal.session_id is not None and res.settings.auth_provider == "local":
        if await res.auth.session_is_revoked_fast(principal.session_id):
            raise Unauthorized("This session has ended.")
        if request.method not in SAFE_METHODS and not await res.auth.session_is_active(
            principal.session_id
        ):
            raise Unauthorized("This session has ended.")
    principal = replace(principal, via_cookie=via_cookie)
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]
