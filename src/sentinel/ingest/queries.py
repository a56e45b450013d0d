"""All SQL of ingest; runs inside a tenant transaction (unqualified names)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from sentinel.ingest.payloads import SAMPLE_COLUMNS

_TYPES = {
    "cpu_pct": "real",
    "load1": "real",
    "mem_pct": "real",
    "swap_pct": "real",
    "disk_pct": "real",
    "disk_read_bps": "float8",
    "disk_write_bps": "float8",
    "net_rx_bps": "float8",
    "net_tx_bps": "float8",
    "battery_pct": "real",
    "charging": "bool",
    "temp_c": "real",
    "uptime_s": "int8",
    "users": "int4",
}
_COLUMNS = ", ".join(SAMPLE_COLUMNS)
_ARRAYS = ", ".join(f"${i + 4}::{_TYPES[c]}[]" for i, c in enumerate(SAMPLE_COLUMNS))
_EXTRA = len(SAMPLE_COLUMNS) + 4
INSERT_TELEMETRY = f"""
    INSERT INTO telemetry (device_id, seq, ts, {_COLUMNS}, extra)
    SELECT * FROM unnest($1::uuid[], $2::int8[], $3::timestamptz[], {_ARRAYS}, ${_EXTRA}::jsonb[])
    ON CONFLICT DO NOTHING"""


async def insert_telemetry(conn: asyncpg.Connection, columns: list[list[Any]]) -> int:
    """Insert samples given column-wise; duplicates (a resent device/seq/ts) are skipped.
    Returns the number of new rows."""
    status: str = await conn.execute(INSERT_TELEMETRY, *columns)
    return int(status.split()[-1])


async def touch_devices(
    conn: asyncpg.Connection,
    device_ids: list[UUID],
    last_ts: list[Any],
    last_seq: list[int],
    latest: list[dict[str, Any]],
) -> list[UUID]:
    """Last-seen and latest metrics; a device that sends telemetry is online. Returns the
    devices that were offline until now (their presence changed)."""
    rows = await conn.fetch(
        """WITH before AS (
               SELECT id, online FROM devices WHERE id = ANY($1::uuid[]) AND status = 'active'
           )
           UPDATE devices d SET
               last_seen_at = greatest(d.last_seen_at, u.ts),
               last_seq = greatest(d.last_seq, u.seq),
               latest = CASE WHEN d.last_seen_at IS NULL OR u.ts >= d.last_seen_at
                             THEN u.latest ELSE d.latest END,
               presence_changed_at = CASE WHEN d.online THEN d.presence_changed_at ELSE now() END,
               online = true
           FROM unnest($1::uuid[], $2::timestamptz[], $3::int8[], $4::jsonb[])
                AS u(id, ts, seq, latest), before b
           WHERE d.id = u.id AND b.id = d.id AND d.status = 'active'
           RETURNING d.id, b.online AS was_online""",
        device_ids,
        last_ts,
        last_seq,
        latest,
    )
    return [row["id"] for row in rows if not row["was_online"]]


async def wake_alerts(conn: asyncpg.Connection, org_id: UUID) -> None:
    """Delivered on commit only, so alerts never see uncommitted data."""
    await conn.execute("SELECT pg_notify('sentinel_alerts', $1)", str(org_id))


async def set_presence(
    conn: asyncpg.Connection, device_id: UUID, online: bool, agent_version: str | None
) -> bool:
    """Returns whether the presence actually changed."""
    row = await conn.fetchrow(
        """UPDATE devices SET online = $2, presence_changed_at = now(),
               agent_version = coalesce($3, agent_version),
               last_seen_at = CASE WHEN $2 THEN greatest(last_seen_at, now()) ELSE last_seen_at END
           WHERE id = $1 AND status = 'active' AND online IS DISTINCT FROM $2
           RETURNING id""",
        device_id,
        online,
        agent_version,
    )
    return row is not None


async def store_inventory(
    conn: asyncpg.Connection, device_id: UUID, inventory: dict[str, Any]
) -> None:
    await conn.execute(
        """UPDATE devices SET inventory = $2, inventory_at = now(),
               hostname = coalesce($3, hostname), os_name = coalesce($4, os_name),
               os_version = coalesce($5, os_version), agent_version = coalesce($6, agent_version)
           WHERE id = $1 AND status = 'active'""",
        device_id,
        inventory,
        inventory.get("hostname"),
        inventory.get("os_name"),
        inventory.get("os_version"),
        inventory.get("agent_version"),
    )
