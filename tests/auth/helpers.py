"""Shared helpers of the identity tests: async sign-up/login, hand-made JWTs, problem checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

from sentinel.api.app import create_app
from sentinel.config import Settings
from sentinel.db.connect import connect, pg_target
from tests.people import PASSWORD, User, unique_email

PROBLEM_JSON = "application/problem+json"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unverified_part(token: str, index: int) -> dict[str, Any]:
    """Header (0) or payload (1) of a compact JWS, read without checking the signature."""
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def session_of(user: User) -> str:
    sid: str = unverified_part(user.access_token, 1)["sid"]
    return sid


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def standard_claims(
    settings: Settings, sub: str, sid: str | None, /, **overrides: Any
) -> dict[str, Any]:
    """The claims our server puts into an access token, for `sub`/`sid`, with overrides."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": sub,
        "sid": sid,
        "iat": now,
        "exp": now + 600,
        "email": "someone@school.example",
        "role": "authenticated",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign_es256(claims: dict[str, Any], key: ECKey, **header: Any) -> str:
    return jwt.encode({"alg": "ES256", "typ": "JWT", **header}, claims, key)


def sign_hs256_raw(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 JWS made by hand, so any bytes (even a public key) can serve as the secret."""
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    return f"{b64url_json({'alg': alg, 'typ': 'JWT'})}.{b64url_json(claims)}."


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status, body
    return body


async def asignup(
    client: httpx.AsyncClient, email: str | None = None, password: str = PASSWORD
) -> User:
    email = email or unique_email()
    response = await client.post("/auth/v1/signup", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return as_user(email, password, response.json())


async def alogin(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> User:
    response = await client.post(
        "/auth/v1/token",
        params={"grant_type": "password"},
        json={"email": email, "password": password},
    )
    assert response.status_code == 200, response.text
    return as_user(email, password, response.json())


def as_user(email: str, password: str, body: dict[str, Any]) -> User:
    user = User(email, password, body["user"]["id"], body["access_token"], body["refresh_token"])
    user.session_id = unverified_part(user.access_token, 1)["sid"]
    return user


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post(
        "/auth/v1/token",
        params={"grant_type": "refresh_token"},
        json={"refresh_token": refresh_token},
    )


async def get_user(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/auth/v1/user", headers=bearer(token))


async def create_org(client: httpx.AsyncClient, token: str) -> httpx.Response:
    """A mutating call that needs nothing but a signed-in user."""
    return await client.post(
        "/api/v1/orgs", json={"name": f"School {secrets.token_hex(3)}"}, headers=bearer(token)
    )


async def assert_token_refused(client: httpx.AsyncClient, token: str) -> None:
    """The access token is refused on a read and on a write."""
    assert_problem(await get_user(client, token), 401, "unauthorized")
    assert_problem(await create_org(client, token), 401, "unauthorized")


async def assert_token_works(client: httpx.AsyncClient, token: str) -> None:
    response = await get_user(client, token)
    assert response.status_code == 200, response.text


@asynccontextmanager
async def owner_db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(pg_target(settings, "owner"))
    try:
        yield conn
    finally:
        await conn.close()


@asynccontextmanager
async def in_process_api(settings: Settings, **update: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An API app in this process with changed settings, on the stack's PostgreSQL and Redis."""
    app = create_app(settings.model_copy(update=update))
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://api"
            ) as client,
        ):
            yield client
    finally:
        # Workaround: RateLimiter.close() leaves the `limits` storage's Redis client open, which
        # surfaces as a ResourceWarning (an error here) once its connection is collected.
        resources = getattr(app.state, "resources", None)
        if resources is not None:
            await resources.limiter.storage.bridge.storage.aclose()
