"""All SQL of the privacy domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from asyncpg import Record


async def tenant_counts(conn: asyncpg.Connection) -> dict[str, int]:
    """Inside a tenant transaction: how much the organization holds."""
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM devices) AS devices,
                  (SELECT count(*) FROM telemetry) AS telemetry_samples,
                  (SELECT count(*) FROM alerts) AS alerts,
                  (SELECT count(*) FROM audit_log) AS audit_entries,
                  (SELECT count(*) FROM device_groups) AS device_groups"""
    )
    return {k: int(v) for k, v in dict(row).items()}


async def member_count(conn: asyncpg.Connection, org_id: UUID) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM control.memberships WHERE org_id = $1", org_id
    )
    return count


async def schema_exists(conn: asyncpg.Connection, schema: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema))


async def role_exists(conn: asyncpg.Connection, role: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role))


async def control_rows(conn: asyncpg.Connection, org_id: UUID) -> dict[str, int]:
    """Rows mentioning the organization in any control table with an `org_id` column (and the
    organizations table itself); a table added later is covered without changing this."""
    tables = await conn.fetch(
        """SELECT table_name FROM information_schema.columns
           WHERE table_schema = 'control' AND column_name = 'org_id'
             AND table_name <> 'deletion_receipts'"""
    )
    found: dict[str, int] = {}
    for row in tables:
        name = row["table_name"]
        count = await conn.fetchval(
            f'SELECT count(*) FROM control."{name}" WHERE org_id = $1', org_id
        )
        if count:
            found[name] = int(count)
    if await conn.fetchval("SELECT 1 FROM control.organizations WHERE id = $1", org_id):
        found["organizations"] = 1
    return found


async def known_devices(conn: asyncpg.Connection, device_ids: list[UUID]) -> set[UUID]:
    """Which of `device_ids` still have a credential (of any status) in some organization."""
    rows = await conn.fetch(
        "SELECT device_id FROM control.device_credentials WHERE device_id = ANY($1::uuid[])",
        device_ids,
    )
    return {row["device_id"] for row in rows}


async def insert_receipt(
    conn: asyncpg.Connection,
    receipt_id: UUID,
    org_id: UUID,
    name: str,
    deleted_by: UUID,
    removed: dict[str, int],
    verification: dict[str, Any],
    verified: bool,
) -> None:
    await conn.execute(
        """INSERT INTO control.deletion_receipts
               (id, org_id, org_name, deleted_by, removed, verification, verified)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        receipt_id,
        org_id,
        name,
        deleted_by,
        removed,
        verification,
        verified,
    )


async def receipt(conn: asyncpg.Connection, receipt_id: UUID, user_id: UUID) -> Record | None:
    row: Record | None = await conn.fetchrow(
        """SELECT id, org_id, org_name, deleted_at, deleted_by, removed, verification, verified
           FROM control.deletion_receipts WHERE id = $1 AND deleted_by = $2""",
        receipt_id,
        user_id,
    )
    return row


async def oldest(conn: asyncpg.Connection) -> dict[str, datetime | None]:
    """Inside a tenant transaction: the oldest data held per category."""
    row = await conn.fetchrow(
        """SELECT (SELECT min(ts) FROM telemetry) AS telemetry,
                  (SELECT min(at) FROM audit_log) AS audit_log,
                  (SELECT min(inventory_at) FROM devices) AS inventory,
                  (SELECT min(coalesce(opened_at, since)) FROM alerts) AS alerts"""
    )
    return dict(row)


async def purge_audit(conn: asyncpg.Connection, before: datetime) -> int:
    status: str = await conn.execute("DELETE FROM audit_log WHERE at < $1", before)
    return int(status.split()[-1])


async def insert_export(
    conn: asyncpg.Connection,
    export_id: UUID,
    requested_by: str,
    start: datetime,
    end: datetime,
    token_sha256: bytes,
    expires_at: datetime,
) -> Record:
    row: Record = await conn.fetchrow(
        """INSERT INTO exports (id, requested_by, telemetry_from, telemetry_to, download_sha256,
                                expires_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING id, status, progress, requested_at, telemetry_from, telemetry_to,
                     expires_at""",
        export_id,
        requested_by,
        start,
        end,
        token_sha256,
        expires_at,
    )
    return row


async def export(conn: asyncpg.Connection, export_id: UUID) -> Record | None:
    row: Record | None = await conn.fetchrow(
        """SELECT id, requested_by, requested_at, telemetry_from, telemetry_to, status, progress,
                  manifest, download_sha256, expires_at, finished_at, error
           FROM exports WHERE id = $1""",
        export_id,
    )
    return row


async def update_export(conn: asyncpg.Connection, export_id: UUID, **fields: Any) -> None:
    assignments = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(fields))
    await conn.execute(
        f"UPDATE exports SET {assignments} WHERE id = $1", export_id, *fields.values()
    )


async def claim_download(conn: asyncpg.Connection, export_id: UUID) -> bool:
    """Atomically turn a ready export into a downloaded one: the link works once."""
    row = await conn.fetchrow(
        """UPDATE exports SET status = 'downloaded' WHERE id = $1 AND status = 'ready'
             AND expires_at > now() RETURNING id""",
        export_id,
    )
    return row is not None
