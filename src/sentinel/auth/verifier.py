"""Turning a bearer token into a local user: our own ES256 tokens, or an external Supabase
project's (JWKS or HS256 secret; issuer, audience and expiry checked; `sub` mapped to a local
user, created on first sight).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import asyncpg
import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey
from joserfc.jws import extract_compact

from sentinel.auth import queries
from sentinel.auth.tokens import AccessTokens, InvalidToken
from sentinel.config import Settings
from sentinel.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Principal:
    user_id: UUID
    session_id: UUID | None
    email: str | None
    via_cookie: bool = False


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal: ...


class LocalVerifier:
    def __init__(self, access: AccessTokens) -> None:
        self.access = access

    async def verify(self, token: str) -> Principal:
        claims = self.access.verify(token)
        return Principal(claims.user_id, claims.session_id, claims.email)


class SupabaseVerifier:
    """Trusts tokens issued by a Supabase Auth project."""

    JWKS_TTL = 600.0
    # Fetch attempts are at least this far apart, whatever triggers them: a token whose `kid` is
    # not in the cached set (the project rotated its key) re-fetches early, but junk kids cannot
    # flood the project with requests.
    JWKS_MIN_REFETCH = 5.0
    # While the JWKS endpoint is unreachable, the last good key set stays in use this long.
    JWKS_MAX_STALE = 3600.0

    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        if not settings.supabase_issuer:
            raise ValueError(
                "SENTINEL_SUPABASE_URL is required with SENTINEL_AUTH_PROVIDER=supabase"
            )
        if not settings.supabase_jwt_secret and not settings.supabase_jwks_url:
            raise ValueError("set SENTINEL_SUPABASE_JWKS_URL or SENTINEL_SUPABASE_JWT_SECRET")
        self.settings = settings
        self.pool = pool
        self._jwks: KeySet | None = None
        self._jwks_at = 0.0  # when the cached key set was fetched
        self._tried_at: float | None = None  # when a fetch was last attempted
        self._jwks_lock = asyncio.Lock()
        self._claims = jwt.JWTClaimsRegistry(
            leeway=5,
            iss={"essential": True, "value": settings.supabase_issuer},
            aud={"essential": True, "value": settings.supabase_audience},
            exp={"essential": True},
            sub={"essential": True},
        )

    def _needs_fetch(self, kid: str | None) -> bool:
        now = time.monotonic()
        if self._tried_at is not None and now - self._tried_at < self.JWKS_MIN_REFETCH:
            return False
        if self._jwks is None or now - self._jwks_at > self.JWKS_TTL:
            return True
        return kid is not None and all(key.kid != kid for key in self._jwks)

    async def _keys(self, token: str) -> tuple[Any, list[str]]:
        secret = self.settings.supabase_jwt_secret
        if secret is not None:
            return OctKey.import_key(secret.get_secret_value()), ["HS256"]
        kid = extract_compact(token.encode()).headers().get("kid")
        if self._needs_fetch(kid):
            async with self._jwks_lock:
                if self._needs_fetch(kid):  # another request may have fetched meanwhile
                    await self._fetch_jwks()
        if self._jwks is None:
            raise InvalidToken("no key set from the JWKS endpoint yet")
        if time.monotonic() - self._jwks_at > self.JWKS_TTL + self.JWKS_MAX_STALE:
            raise InvalidToken("the cached key set is too old")
        return self._jwks, ["ES256", "RS256"]

    async def _fetch_jwks(self) -> None:
        assert self.settings.supabase_jwks_url is not None
        self._tried_at = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                response = await client.get(self.settings.supabase_jwks_url)
                response.raise_for_status()
            keys = KeySet.import_key_set(response.json())
        except (JoseError, ValueError, KeyError, TypeError, httpx.HTTPError) as exc:
            # Keep the last good keys (if any); the next attempt waits JWKS_MIN_REFETCH.
            log.warning("could not fetch the Supabase JWKS", error=exc.__class__.__name__)
            return
        self._jwks = keys
        self._jwks_at = time.monotonic()

    async def verify(self, token: str) -> Principal:
        try:
            key, algorithms = await self._keys(token)
            decoded = jwt.decode(token, key, algorithms=algorithms)
            self._claims.validate(decoded.claims)
            sub = str(decoded.claims["sub"])
            email = decoded.claims.get("email") or ""
            session = decoded.claims.get("session_id")
            if not isinstance(email, str) or not isinstance(session, str | None):
                raise TypeError("email and session_id must be strings")
            session_id = UUID(session) if session else None
        except (JoseError, ValueError, KeyError, TypeError, httpx.HTTPError) as exc:
            raise InvalidToken(exc.__class__.__name__) from exc
        user_id = await self._local_user(sub, email.lower())
        return Principal(user_id, session_id, email.lower() or None)

    async def _local_user(self, sub: str, email: str) -> UUID:
        async with self.pool.acquire() as conn:
            row = await queries.user_by_external_sub(conn, sub)
            if row is None:
                if not email:
                    raise InvalidToken("no email claim for a new user")
                await queries.insert_user(conn, uuid.uuid4(), email, None, external_sub=sub)
                row = await queries.user_by_external_sub(conn, sub)
                if row is None:
                    raise InvalidToken("email already belongs to another user")
        user_id: UUID = row["id"]
        return user_id


def make_verifier(settings: Settings, access: AccessTokens, pool: asyncpg.Pool) -> TokenVerifier:
    if settings.auth_provider == "supabase":
        return SupabaseVerifier(settings, pool)
    return LocalVerifier(access)
