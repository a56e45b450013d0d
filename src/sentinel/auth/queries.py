"""All SQL of the identity domain (control schema)."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from asyncpg import Record


async def insert_user(
    conn: asyncpg.Connection,
    user_id: UUID,
    email: str,
    password_hash: str | None,
    external_sub: str | None = None,
) -> Record | None:
    row: Record | None = await conn.fetchrow(
        """INSERT INTO control.users (id, email, password_hash, external_sub)
           VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING
           RETURNING id, email, created_at, last_sign_in_at""",
        user_id,
        email,
        password_hash,
        external_sub,
    )
    return row


async def user_by_email(conn: asyncpg.Connection, email: str) -> Record | None:
    row: Record | None = await conn.fetchrow(
        "SELECT id, email, password_hash, created_at, last_sign_in_at FROM control.users "
        "WHERE email = $1",
        email,
    )
    return row


async def user_by_id(conn: asyncpg.Connection, user_id: UUID) -> Record | None:
    row: Record | None = await conn.fetchrow(
        "SELECT id, email, created_at, last_sign_in_at FROM control.users WHERE id = $1",
        user_id,
    )
    return row


async def user_by_external_sub(conn: asyncpg.Connection, sub: str) -> Record | None:
    row: Record | None = await conn.fetchrow(
        "SELECT id, email, created_at, last_sign_in_at FROM control.users WHERE external_sub = $1",
        sub,
    )
    return row


async def update_password_hash(conn: asyncpg.Connection, user_id: UUID, password_hash: str) -> None:
    await conn.execute(
        "UPDATE control.users SET password_hash = $2, updated_at = now() WHERE id = $1",
        user_id,
        password_hash,
    )


async def touch_sign_in(conn: asyncpg.Connection, user_id: UUID) -> None:
    await conn.execute("UPDATE control.users SET last_sign_in_at = now() WHERE id = $1", user_id)


async def insert_session(
    conn: asyncpg.Connection,
    session_id: UUID,
    user_id: UUID,
    user_agent: str | None,
    ip: str | None,
) -> None:
    await conn.execute(
        "INSERT INTO control.sessions (id, user_id, user_agent, ip) VALUES ($1, $2, $3, $4)",
        session_id,
        user_id,
        user_agent,
        ip,
    )


async def insert_refresh_token(
    conn: asyncpg.Connection,
    session_id: UUID,
    token_hash: bytes,
    salt: bytes,
    parent_id: int | None,
) -> int:
    token_id: int = await conn.fetchval(
        """INSERT INTO control.refresh_tokens (session_id, token_hash, secret_salt, parent_id)
           VALUES ($1, $2, $3, $4) RETURNING id""",
        session_id,
        token_hash,
        salt,
        parent_id,
    )
    return token_id


async def refresh_token_for_update(conn: asyncpg.Connection, token_hash: bytes) -> Record | None:
    """The token with its session, both locked: concurrent refreshes of one token serialize."""
    row: Record | None = await conn.fetchrow(
        """SELECT rt.id, rt.session_id, rt.rotated_at, s.user_id, s.revoked_at, u.email
           FROM control.refresh_tokens rt
           JOIN control.sessions s ON s.id = rt.session_id
           JOIN control.users u ON u.id = s.user_id
           WHERE rt.token_hash = $1
           FOR UPDATE OF rt, s""",
        token_hash,
    )
    return row


async def active_refresh_token(conn: asyncpg.Connection, session_id: UUID) -> Record | None:
    row: Record | None = await conn.fetchrow(
        """SELECT id, secret_salt FROM control.refresh_tokens
           WHERE session_id = $1 AND rotated_at IS NULL ORDER BY id DESC LIMIT 1""",
        session_id,
    )
    return row


async def mark_rotated(conn: asyncpg.Connection, token_id: int, session_id: UUID) -> None:
    await conn.execute(
        "UPDATE control.refresh_tokens SET rotated_at = now() WHERE id = $1", token_id
    )
    await conn.execute("UPDATE control.sessions SET refreshed_at = now() WHERE id = $1", session_id)


async def revoke_sessions(
    conn: asyncpg.Connection,
    user_id: UUID,
    reason: str,
    only: UUID | None = None,
    keep: UUID | None = None,
) -> list[UUID]:
    """Revoke one session (`only`), or all of a user's but `keep`; returns the ids revoked."""
    rows = await conn.fetch(
        """UPDATE control.sessions SET revoked_at = now(), revoked_reason = $2
           WHERE user_id = $1 AND revoked_at IS NULL
             AND ($3::uuid IS NULL OR id = $3) AND ($4::uuid IS NULL OR id <> $4)
           RETURNING id""",
        user_id,
        reason,
        only,
        keep,
    )
    return [row["id"] for row in rows]


async def session_active(conn: asyncpg.Connection, session_id: UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT revoked_at IS NULL FROM control.sessions WHERE id = $1",
            session_id,
        )
    )


async def list_sessions(conn: asyncpg.Connection, user_id: UUID) -> list[Record]:
    rows: list[Record] = await conn.fetch(
        """SELECT id, created_at, refreshed_at, user_agent, host(ip) AS ip
           FROM control.sessions WHERE user_id = $1 AND revoked_at IS NULL
           ORDER BY refreshed_at DESC""",
        user_id,
    )
    return rows
