"""All SQL of the audit log; runs inside a tenant transaction (unqualified table names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg


async def insert_entry(
    conn: asyncpg.Connection,
    *,
    actor_type: str,
    actor_id: str | None,
    actor_label: str | None,
    action: str,
    target_type: str | None,
    target_id: str | None,
    source_ip: str | None,
    request_id: str | None,
    before: Any,
    after: Any,
) -> int:
    entry_id: int = await conn.fetchval(
        """INSERT INTO audit_log (actor_type, actor_id, actor_label, action, target_type,
                                  target_id, source_ip, request_id, before, after)
           VALUES ($1, $2, $3, $4, $5, $6, $7::inet, $8, $9::jsonb, $10::jsonb) RETURNING id""",
        actor_type,
        actor_id,
        actor_label,
        action,
        target_type,
        target_id,
        source_ip,
        request_id,
        before,
        after,
    )
    return entry_id


async def list_entries(
    conn: asyncpg.Connection,
    *,
    before_id: int | None,
    limit: int,
    action: str | None,
    actor_id: str | None,
    target_type: str | None,
    target_id: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[asyncpg.Record]:
    """Newest first, ids below `before_id`. `action` matches exactly or as a dotted prefix
    (`member` finds `member.joined`, not `members.x`); it is never a LIKE pattern."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT id, at, actor_type, actor_id, actor_label, action, target_type, target_id,
                  host(source_ip) AS source_ip, request_id, before, after
           FROM audit_log
           WHERE ($1::bigint IS NULL OR id < $1)
             AND ($3::text IS NULL OR action = $3 OR starts_with(action, $3 || '.'))
             AND ($4::text IS NULL OR actor_id = $4)
             AND ($5::text IS NULL OR target_type = $5)
             AND ($6::text IS NULL OR target_id = $6)
             AND ($7::timestamptz IS NULL OR at >= $7)
             AND ($8::timestamptz IS NULL OR at < $8)
           ORDER BY id DESC LIMIT $2""",
        before_id,
        limit,
        action,
        actor_id,
        target_type,
        target_id,
        since,
        until,
    )
    return rows
