"""All SQL of commands; runs inside a tenant transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from asyncpg import Record

COLUMNS = "id, device_id, name, args, status, created_by, created_at, expires_at, sent_at, finished_at, output"


async def insert(
    conn: asyncpg.Connection,
    command_id: UUID,
    device_id: UUID,
    name: str,
    args: dict[str, Any],
    created_by: str,
    expires_at: datetime,
) -> Record:
    row: Record = await conn.fetchrow(
        f"""INSERT INTO commands (id, device_id, name, args, created_by, expires_at)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}""",
        command_id,
        device_id,
        name,
        args,
        created_by,
        expires_at,
    )
    return row


async def for_device(conn: asyncpg.Connection, device_id: UUID, limit: int) -> list[Record]:
    rows: list[Record] = await conn.fetch(
        f"SELECT {COLUMNS} FROM commands WHERE device_id = $1 ORDER BY created_at DESC LIMIT $2",
        device_id,
        limit,
    )
    return rows


async def expire(conn: asyncpg.Connection) -> list[Record]:
    rows: list[Record] = await conn.fetch(
        """UPDATE commands SET status = 'expired', finished_at = now()
           WHERE status IN ('queued', 'sent') AND expires_at <= now() RETURNING id, device_id"""
    )
    return rows


async def dispatchable(conn: asyncpg.Connection) -> list[Record]:
    """Queued commands of online devices (offline devices get theirs when they return)."""
    rows: list[Record] = await conn.fetch(
        """SELECT c.id, c.device_id, c.name, c.args, c.expires_at FROM commands c
           JOIN devices d ON d.id = c.device_id
           WHERE c.status = 'queued' AND d.online AND d.status = 'active'
           ORDER BY c.created_at LIMIT 500"""
    )
    return rows


async def mark_sent(conn: asyncpg.Connection, command_ids: list[UUID]) -> None:
    await conn.execute(
        "UPDATE commands SET status = 'sent', sent_at = now() WHERE id = ANY($1) AND status = 'queued'",
        command_ids,
    )


async def record_result(
    conn: asyncpg.Connection, command_id: UUID, device_id: UUID, status: str, output: str
) -> bool:
    """Store a device's answer once; a replayed answer changes nothing."""
    row = await conn.fetchrow(
        """UPDATE commands SET status = $3, output = $4, finished_at = now()
           WHERE id = $1 AND device_id = $2 AND status IN ('queued', 'sent') RETURNING id""",
        command_id,
        device_id,
        status,
        output,
    )
    return row is not None
