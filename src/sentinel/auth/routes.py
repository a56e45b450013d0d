"""`/auth/v1/*`: sign-up, token (password / refresh_token grants), logout, user, sessions, JWKS."""

from __future__ import annotations

import json
from typing import Any, Literal, TypeVar
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from sentinel.api.deps import Res, client_ip
from sentinel.api.problems import NotFound, Problem
from sentinel.auth.browser import start_browser_session
from sentinel.auth.errors import ExternalAuth
from sentinel.auth.principal import CurrentUser
from sentinel.auth.schemas import Credentials, RefreshRequest
from sentinel.auth.service import ClientMeta, Grant

router = APIRouter(prefix="/auth/v1", tags=["auth"])
Body = TypeVar("Body", bound=BaseModel)


class UnsupportedGrant(Problem):
    status = 400
    code = "unsupported_grant_type"
    title = "Unsupported grant_type"


def _local_only(res: Res) -> None:
    if res.settings.auth_provider != "local":
        raise ExternalAuth()


def _meta(request: Request) -> ClientMeta:
    return ClientMeta(client_ip(request), request.headers.get("user-agent", "")[:300] or None)


def _address(request: Request) -> str:
    return client_ip(request) or "unknown"


async def _body(request: Request, model: type[Body]) -> Body:
    """The JSON body as `model`; malformed input is a 422 like any other validation error
    (the body depends on `grant_type`, so FastAPI cannot validate it for us)."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "The body is not valid JSON.", "type": "json_invalid"}]
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


async def _signup(body: Credentials, request: Request, res: Res) -> Grant:
    _local_only(res)
    await res.limiter.enforce("signup", _address(request))
    return await res.auth.signup(body.email.lower(), body.password, _meta(request))


async def _password_grant(creds: Credentials, request: Request, res: Res) -> Grant:
    _local_only(res)
    email = creds.email.lower()
    await res.limiter.enforce("login_address", _address(request))
    await res.limiter.enforce("login_account", email)
    return await res.auth.login(email, creds.password, _meta(request))


@router.post("/signup")
async def signup(body: Credentials, request: Request, res: Res) -> dict[str, Any]:
    return (await _signup(body, request, res)).as_response()


@router.post("/browser/signup")
async def browser_signup(
    body: Credentials, request: Request, response: Response, res: Res
) -> dict[str, Any]:
    """Like /signup, but the session lives in cookies (see `sentinel.auth.browser`)."""
    return await start_browser_session(await _signup(body, request, res), response, res)


@router.post("/browser/login")
async def browser_login(
    body: Credentials, request: Request, response: Response, res: Res
) -> dict[str, Any]:
    return await start_browser_session(await _password_grant(body, request, res), response, res)


@router.post("/token")
async def token(
    request: Request,
    res: Res,
    grant_type: Literal["password", "refresh_token"] = Query(...),
) -> dict[str, Any]:
    _local_only(res)
    if grant_type == "password":
        grant = await _password_grant(await _body(request, Credentials), request, res)
    elif grant_type == "refresh_token":
        refresh = await _body(request, RefreshRequest)
        grant = await res.auth.refresh(refresh.refresh_token)
    else:  # pragma: no cover - Literal validation refuses others first
        raise UnsupportedGrant()
    return grant.as_response()


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    user: CurrentUser,
    res: Res,
    scope: Literal["local", "global", "others"] = "local",
) -> Response:
    await res.auth.logout(user.user_id, user.session_id, scope)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/user")
async def get_user(user: CurrentUser, res: Res) -> dict[str, Any]:
    found = await res.auth.user(user.user_id)
    if found is None:
        raise NotFound("No such user.")
    return found


@router.get("/sessions")
async def list_sessions(user: CurrentUser, res: Res) -> list[dict[str, Any]]:
    sessions = await res.auth.sessions(user.user_id)
    for session in sessions:
        session["current"] = session["id"] == str(user.session_id)
    return sessions


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_session(session_id: UUID, user: CurrentUser, res: Res) -> Response:
    if not await res.auth.revoke_session(user.user_id, session_id):
        raise NotFound("No such active session.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/.well-known/jwks.json")
async def jwks(res: Res) -> dict[str, Any]:
    return res.access_tokens.jwks()
