"""All SQL of devices: control-plane credential and enrollment indexes, and the tenant's
device and group tables (unqualified names: run inside a tenant transaction)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from asyncpg import Record

# --- control plane -------------------------------------------------------------------------


async def insert_enrollment_token(
    conn: asyncpg.Connection,
    token_id: UUID,
    org_id: UUID,
    token_sha256: bytes,
    label: str,
    group_id: UUID | None,
    expires_at: datetime,
    max_uses: int,
    created_by: UUID | None,
) -> Record:
    row: Record = await conn.fetchrow(
        """INSERT INTO control.enrollment_tokens
               (id, org_id, token_sha256, label, group_id, expires_at, max_uses, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           RETURNING id, label, group_id, expires_at, max_uses, uses, created_at, revoked_at""",
        token_id,
        org_id,
        token_sha256,
        label,
        group_id,
        expires_at,
        max_uses,
        created_by,
    )
    return row


async def enrollment_tokens(conn: asyncpg.Connection, org_id: UUID) -> list[Record]:
    rows: list[Record] = await conn.fetch(
        """SELECT id, label, group_id, expires_at, max_uses, uses, created_at, revoked_at
           FROM control.enrollment_tokens WHERE org_id = $1 ORDER BY created_at DESC""",
        org_id,
    )
    return rows


async def revoke_enrollment_token(
    conn: asyncpg.Connection, org_id: UUID, token_id: UUID
) -> Record | None:
    row: Record | None = await conn.fetchrow(
        """UPDATE control.enrollment_tokens SET revoked_at = now()
           WHERE id = $1 AND org_id = $2 AND revoked_at IS NULL RETURNING id, label""",
        token_id,
        org_id,
    )
    return row


async def enrollment_token_for_update(
    conn: asyncpg.Connection, token_sha256: bytes
) -> Record | None:
    row: Record | None = await conn.fetchrow(
        """SELECT t.id, t.org_id, t.label, t.group_id, t.expires_at, t.max_uses, t.uses,
                  t.revoked_at, o.shard, o.seat_limit, o.moving
           FROM control.enrollment_tokens t JOIN control.organizations o ON o.id = t.org_id
           WHERE t.token_sha256 = $1 FOR UPDATE OF t, o""",
        token_sha256,
    )
    return row


async def use_enrollment_token(conn: asyncpg.Connection, token_id: UUID) -> None:
    await conn.execute(
        "UPDATE control.enrollment_tokens SET uses = uses + 1 WHERE id = $1", token_id
    )


async def seats_used(conn: asyncpg.Connection, org_id: UUID) -> int:
    used: int = await conn.fetchval(
        "SELECT count(*) FROM control.device_credentials WHERE org_id = $1 AND status <> 'decommissioned'",
        org_id,
    )
    return used


async def insert_credential(
    conn: asyncpg.Connection,
    device_id: UUID,
    org_id: UUID,
    token_sha256: bytes,
    username: str,
    broker_hash: str,
) -> None:
    await conn.execute(
        """INSERT INTO control.device_credentials
               (device_id, org_id, token_sha256, broker_username, broker_hash)
           VALUES ($1, $2, $3, $4, $5)""",
        device_id,
        org_id,
        token_sha256,
        username,
        broker_hash,
    )


async def credential_by_token(conn: asyncpg.Connection, token_sha256: bytes) -> Record | None:
    row: Record | None = await conn.fetchrow(
        """SELECT c.device_id, c.org_id, c.status, o.shard FROM control.device_credentials c
           JOIN control.organizations o ON o.id = c.org_id WHERE c.token_sha256 = $1""",
        token_sha256,
    )
    return row


async def rotate_credential(
    conn: asyncpg.Connection, org_id: UUID, device_id: UUID, token_sha256: bytes, broker_hash: str
) -> bool:
    status: str = await conn.execute(
        """UPDATE control.device_credentials
           SET token_sha256 = $3, broker_hash = $4, rotated_at = now()
           WHERE org_id = $1 AND device_id = $2 AND status = 'active'""",
        org_id,
        device_id,
        token_sha256,
        broker_hash,
    )
    return status.endswith(" 1")


async def set_credential_status(
    conn: asyncpg.Connection, org_id: UUID, device_id: UUID, status: str
) -> None:
    await conn.execute(
        """UPDATE control.device_credentials SET status = $3,
               revoked_at = CASE WHEN $3 = 'active' THEN NULL ELSE coalesce(revoked_at, now()) END
           WHERE org_id = $1 AND device_id = $2""",
        org_id,
        device_id,
        status,
    )


async def credential_status_for_update(
    conn: asyncpg.Connection, org_id: UUID, device_id: UUID
) -> str | None:
    status: str | None = await conn.fetchval(
        """SELECT status FROM control.device_credentials
           WHERE org_id = $1 AND device_id = $2 FOR UPDATE""",
        org_id,
        device_id,
    )
    return status


async def delete_credential(conn: asyncpg.Connection, org_id: UUID, device_id: UUID) -> None:
    await conn.execute(
        "DELETE FROM control.device_credentials WHERE org_id = $1 AND device_id = $2",
        org_id,
        device_id,
    )


async def active_broker_credentials(conn: asyncpg.Connection) -> list[Record]:
    rows: list[Record] = await conn.fetch(
        "SELECT broker_username, broker_hash FROM control.device_credentials WHERE status = 'active'"
    )
    return rows


async def device_states(conn: asyncpg.Connection) -> list[Record]:
    rows: list[Record] = await conn.fetch(
        """SELECT c.device_id, c.org_id, c.status, o.shard FROM control.device_credentials c
           JOIN control.organizations o ON o.id = c.org_id"""
    )
    return rows


async def device_state(conn: asyncpg.Connection, org_id: UUID, device_id: UUID) -> Record | None:
    row: Record | None = await conn.fetchrow(
        """SELECT c.status, o.shard FROM control.device_credentials c
           JOIN control.organizations o ON o.id = c.org_id
           WHERE c.org_id = $1 AND c.device_id = $2""",
        org_id,
        device_id,
    )
    return row


# --- tenant ----------------------------------------------------------------------------------

DEVICE_COLUMNS = """id, name, hostname, group_id, tags, notes, asset_tag, status, enrolled_at,
    online, presence_changed_at, last_seen_at, last_seq, latest, os_name, os_version,
    agent_version, inventory_at"""


async def insert_device(
    conn: asyncpg.Connection,
    device_id: UUID,
    name: str,
    hostname: str | None,
    group_id: UUID | None,
    enrollment_token_id: UUID | None,
) -> Record:
    row: Record = await conn.fetchrow(
        f"""INSERT INTO devices (id, name, hostname, group_id, enrollment_token_id)
            VALUES ($1, $2, $3, $4, $5) RETURNING {DEVICE_COLUMNS}""",
        device_id,
        name,
        hostname,
        group_id,
        enrollment_token_id,
    )
    return row


async def device(conn: asyncpg.Connection, device_id: UUID) -> Record | None:
    row: Record | None = await conn.fetchrow(
        f"SELECT {DEVICE_COLUMNS}, inventory FROM devices WHERE id = $1", device_id
    )
    return row


SORTS = {
    "name": ("lower(name)", "ASC"),
    "-name": ("lower(name)", "DESC"),
    "last_seen": ("coalesce(last_seen_at, 'epoch'::timestamptz)", "ASC"),
    "-last_seen": ("coalesce(last_seen_at, 'epoch'::timestamptz)", "DESC"),
    "enrolled": ("enrolled_at", "ASC"),
    "-enrolled": ("enrolled_at", "DESC"),
}


async def list_devices(
    conn: asyncpg.Connection,
    *,
    status: str | None,
    group_ids: list[UUID] | None,
    q: str | None,
    os_name: str | None,
    tag: str | None,
    sort: str,
    after: tuple[Any, UUID] | None,
    limit: int,
) -> list[Record]:
    """Keyset pagination: `after` is the (sort value, id) of the previous page's last row."""
    column, direction = SORTS[sort]
    op = ">" if direction == "ASC" else "<"
    status_filter = {
        None: "TRUE",
        "online": "status = 'active' AND online",
        "offline": "status = 'active' AND NOT online AND last_seen_at IS NOT NULL",
        "never_seen": "status = 'active' AND last_seen_at IS NULL",
        "revoked": "status = 'revoked'",
        "decommissioned": "status = 'decommissioned'",
    }[status]
    rows: list[Record] = await conn.fetch(
        f"""SELECT {DEVICE_COLUMNS}, {column} AS sort_key FROM devices
            WHERE {status_filter}
              AND ($1::uuid[] IS NULL OR group_id = ANY($1))
              AND ($2::text IS NULL OR name ILIKE $2 OR hostname ILIKE $2 OR asset_tag ILIKE $2)
              AND ($3::text IS NULL OR os_name = $3)
              AND ($4::text IS NULL OR $4 = ANY(tags))
              AND ($5::text IS NULL OR ({column}, id) {op} ($5::text::{_sort_type(sort)}, $6::uuid))
            ORDER BY {column} {direction}, id {direction} LIMIT $7""",
        group_ids,
        None if q is None else f"%{escape_like(q)}%",
        os_name,
        tag,
        None if after is None else str(after[0]),
        None if after is None else after[1],
        limit,
    )
    return rows


def escape_like(text: str) -> str:
    """`text` matched literally inside a LIKE pattern (backslash is the default escape)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def sort_is_time(sort: str) -> bool:
    return sort.lstrip("-") != "name"


def _sort_type(sort: str) -> str:
    return "timestamptz" if sort_is_time(sort) else "text"


async def update_device(
    conn: asyncpg.Connection, device_id: UUID, changes: dict[str, Any]
) -> Record | None:
    allowed = {"name", "group_id", "tags", "notes", "asset_tag"}
    assert set(changes) <= allowed, changes
    assignments = ", ".join(f"{key} = ${i + 2}" for i, key in enumerate(changes))
    row: Record | None = await conn.fetchrow(
        f"UPDATE devices SET {assignments} WHERE id = $1 RETURNING {DEVICE_COLUMNS}",
        device_id,
        *changes.values(),
    )
    return row


async def set_device_status(conn: asyncpg.Connection, device_id: UUID, status: str) -> None:
    await conn.execute(
        """UPDATE devices SET status = $2, online = CASE WHEN $2 = 'active' THEN online ELSE false END,
               presence_changed_at = CASE WHEN online AND $2 <> 'active' THEN now()
                                          ELSE presence_changed_at END
           WHERE id = $1""",
        device_id,
        status,
    )


async def delete_device(conn: asyncpg.Connection, device_id: UUID) -> None:
    await conn.execute("DELETE FROM telemetry WHERE device_id = $1", device_id)
    await conn.execute("DELETE FROM devices WHERE id = $1", device_id)


async def bulk_update(
    conn: asyncpg.Connection,
    device_ids: list[UUID],
    *,
    group_id: UUID | None,
    set_group: bool,
    add_tags: list[str],
) -> int:
    status: str = await conn.execute(
        """UPDATE devices SET
               group_id = CASE WHEN $2 THEN $3 ELSE group_id END,
               tags = ARRAY(SELECT DISTINCT unnest(tags || $4::text[]) ORDER BY 1)
           WHERE id = ANY($1)""",
        device_ids,
        set_group,
        group_id,
        add_tags,
    )
    return int(status.split()[-1])


async def groups(conn: asyncpg.Connection) -> list[Record]:
    rows: list[Record] = await conn.fetch(
        """SELECT g.id, g.parent_id, g.name, g.created_at,
                  (SELECT count(*) FROM devices d WHERE d.group_id = g.id) AS device_count
           FROM device_groups g ORDER BY lower(g.name)"""
    )
    return rows


async def group(conn: asyncpg.Connection, group_id: UUID) -> Record | None:
    row: Record | None = await conn.fetchrow(
        "SELECT id, parent_id, name, created_at FROM device_groups WHERE id = $1", group_id
    )
    return row


async def insert_group(
    conn: asyncpg.Connection, group_id: UUID, name: str, parent_id: UUID | None
) -> Record:
    row: Record = await conn.fetchrow(
        """INSERT INTO device_groups (id, name, parent_id) VALUES ($1, $2, $3)
           RETURNING id, parent_id, name, created_at""",
        group_id,
        name,
        parent_id,
    )
    return row


async def update_group(
    conn: asyncpg.Connection, group_id: UUID, name: str, parent_id: UUID | None
) -> Record | None:
    row: Record | None = await conn.fetchrow(
        """UPDATE device_groups SET name = $2, parent_id = $3 WHERE id = $1
           RETURNING id, parent_id, name, created_at""",
        group_id,
        name,
        parent_id,
    )
    return row


async def delete_group(conn: asyncpg.Connection, group_id: UUID) -> bool:
    status: str = await conn.execute("DELETE FROM device_groups WHERE id = $1", group_id)
    return status.endswith(" 1")


async def lock_group_tree(conn: asyncpg.Connection) -> None:
    """Held until the transaction ends; conflicts with itself, not with readers."""
    await conn.execute("LOCK TABLE device_groups IN SHARE ROW EXCLUSIVE MODE")


async def group_subtree(conn: asyncpg.Connection, group_id: UUID) -> list[UUID]:
    """The group and every group below it (campus → building → room)."""
    rows = await conn.fetch(
        """WITH RECURSIVE tree AS (
               SELECT id FROM device_groups WHERE id = $1
               UNION SELECT g.id FROM device_groups g JOIN tree t ON g.parent_id = t.id)
           SELECT id FROM tree""",
        group_id,
    )
    return [row["id"] for row in rows]


async def mark_silent_offline(conn: asyncpg.Connection, silence_s: float) -> list[UUID]:
    """Devices still marked online but silent for `silence_s`: now offline (no Last Will came)."""
    rows = await conn.fetch(
        """UPDATE devices SET online = false, presence_changed_at = now()
           WHERE online AND last_seen_at < now() - make_interval(secs => $1)
           RETURNING id""",
        silence_s,
    )
    return [row["id"] for row in rows]
