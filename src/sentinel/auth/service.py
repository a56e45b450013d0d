"""Identity rules: sign-up, password login, refresh-token rotation with reuse detection,
logout and session management.

Rotation: every refresh returns a new refresh token and marks the presented one rotated.
Presenting a rotated token again within the grace window (a client that lost the response, or
two tabs racing) returns the session's current token; after the window it is treated as
theft and the whole session, with every token of it, is revoked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg
import redis.asyncio as redis

from sentinel.auth import queries
from sentinel.auth.errors import EmailTaken, InvalidCredentials, InvalidGrant
from sentinel.auth.passwords import check_policy, hash_password, needs_rehash, verify_password
from sentinel.auth.tokens import AccessTokens, RefreshTokens
from sentinel.logging import get_logger

log = get_logger(__name__)
REVOKED_KEY = "sentinel:revoked-session:{}"
LogoutScope = Literal["local", "global", "others"]


@dataclass(frozen=True)
class ClientMeta:
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True)
class Grant:
    access_token: str
    expires_at: int
    refresh_token: str
    session_id: UUID
    user: dict[str, Any]

    def as_response(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": max(0, self.expires_at - int(datetime.now(UTC).timestamp())),
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "user": self.user,
        }


def user_json(row: asyncpg.Record) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": str(row["id"]),
        "email": row["email"],
        "aud": "authenticated",
        "role": "authenticated",
        "created_at": iso(row["created_at"]),
        "last_sign_in_at": iso(row["last_sign_in_at"]),
    }


class AuthService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        cache: redis.Redis,
        access: AccessTokens,
        refresh: RefreshTokens,
        reuse_grace_seconds: float,
    ) -> None:
        self.pool = pool
        self.cache = cache
        self.access = access
        self.refresh_tokens = refresh
        self.grace = reuse_grace_seconds

    async def _new_refresh(
        self, conn: asyncpg.Connection, session_id: UUID, parent_id: int | None
    ) -> str:
        salt = self.refresh_tokens.new_salt()
        token = self.refresh_tokens.derive(salt)
        await queries.insert_refresh_token(
            conn,
            session_id,
            self.refresh_tokens.lookup_hash(token),
            salt,
            parent_id,
        )
        return token

    async def _start_session(
        self, conn: asyncpg.Connection, user: asyncpg.Record, meta: ClientMeta
    ) -> Grant:
        session_id = uuid.uuid4()
        await queries.insert_session(conn, session_id, user["id"], meta.user_agent, meta.ip)
        refresh = await self._new_refresh(conn, session_id, None)
        await queries.touch_sign_in(conn, user["id"])
        access, expires_at = self.access.issue(user["id"], session_id, user["email"])
        return Grant(access, expires_at, refresh, session_id, user_json(user))

    async def signup(self, email: str, password: str, meta: ClientMeta) -> Grant:
        check_policy(password, email)
        hashed = hash_password(password)
        async with self.pool.acquire() as conn, conn.transaction():
            user = await queries.insert_user(conn, uuid.uuid4(), email, hashed)
            if user is None:
                raise EmailTaken()
            log.info("user signed up", user_id=str(user["id"]))
            return await self._start_session(conn, user, meta)

    async def login(self, email: str, password: str, meta: ClientMeta) -> Grant:
        async with self.pool.acquire() as conn:
            user = await queries.user_by_email(conn, email)
            if user is None or not verify_password(user["password_hash"], password):
                log.info("login failed", reason="bad_credentials")
                raise InvalidCredentials()
            async with conn.transaction():
                if needs_rehash(user["password_hash"]):
                    await queries.update_password_hash(conn, user["id"], hash_password(password))
                return await self._start_session(conn, user, meta)

    async def refresh(self, token: str) -> Grant:
        revoked: UUID | None = None
        async with self.pool.acquire() as conn, conn.transaction():
            row = await queries.refresh_token_for_update(
                conn, self.refresh_tokens.lookup_hash(token)
            )
            if row is None or row["revoked_at"] is not None:
                raise InvalidGrant()
            session_id: UUID = row["session_id"]
            if row["rotated_at"] is None:
                await queries.mark_rotated(conn, row["id"], session_id)
                new_token = await self._new_refresh(conn, session_id, row["id"])
            elif (datetime.now(UTC) - row["rotated_at"]).total_seconds() <= self.grace:
                current = await queries.active_refresh_token(conn, session_id)
                if current is None:
                    raise InvalidGrant()
                new_token = self.refresh_tokens.derive(current["secret_salt"])
            else:
                await queries.revoke_sessions(
                    conn, row["user_id"], "refresh_token_reused", only=session_id
                )
                revoked = session_id
            if revoked is None:
                access, expires_at = self.access.issue(row["user_id"], session_id, row["email"])
                user_row = await queries.user_by_id(conn, row["user_id"])
                assert user_row is not None  # the session's foreign key guarantees it
                return Grant(access, expires_at, new_token, session_id, user_json(user_row))
        # Committed: the reuse is recorded and the session is dead for good.
        await self._announce_revoked([revoked])
        log.warning("refresh token reused after grace; session revoked", session_id=str(revoked))
        raise InvalidGrant("This refresh token was already used; the session has been ended.")

    async def logout(self, user_id: UUID, session_id: UUID | None, scope: LogoutScope) -> None:
        if scope in ("local", "others") and session_id is None:
            return  # no session of ours to end (an externally issued token)
        async with self.pool.acquire() as conn:
            if scope == "local":
                ids = await queries.revoke_sessions(conn, user_id, "logout", only=session_id)
            elif scope == "others":
                ids = await queries.revoke_sessions(conn, user_id, "logout_others", keep=session_id)
            else:
                ids = await queries.revoke_sessions(conn, user_id, "logout_global")
        await self._announce_revoked(ids)

    async def revoke_session(self, user_id: UUID, session_id: UUID) -> bool:
        async with self.pool.acquire() as conn:
            ids = await queries.revoke_sessions(conn, user_id, "revoked_by_user", only=session_id)
        await self._announce_revoked(ids)
        return bool(ids)

    async def sessions(self, user_id: UUID) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            rows = await queries.list_sessions(conn, user_id)
        return [
            {
                "id": str(r["id"]),
                "created_at": r["created_at"].isoformat(),
                "refreshed_at": r["refreshed_at"].isoformat(),
                "user_agent": r["user_agent"],
                "ip": r["ip"],
            }
            for r in rows
        ]

    async def user(self, user_id: UUID) -> dict[str, Any] | None:
        async with self.pool.acquire() as conn:
            row = await queries.user_by_id(conn, user_id)
        return user_json(row) if row else None

    async def session_is_revoked_fast(self, session_id: UUID) -> bool:
        """Redis check on every request; tolerant of Redis trouble (the DB check backs it)."""
        try:
            return bool(await self.cache.exists(REVOKED_KEY.format(session_id)))
        except redis.RedisError:
            return False

    async def session_is_active(self, session_id: UUID) -> bool:
        async with self.pool.acquire() as conn:
            return await queries.session_active(conn, session_id)

    async def _announce_revoked(self, session_ids: list[UUID]) -> None:
        ttl = self.access.ttl + 60
        try:
            for session_id in session_ids:
                await self.cache.set(REVOKED_KEY.format(session_id), 1, ex=ttl)
        except redis.RedisError as exc:
            log.warning("could not cache session revocation", error=exc.__class__.__name__)
