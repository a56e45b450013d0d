"""Shared by the scale-out tests."""

from __future__ import annotations

from uuid import UUID

from sentinel.config import Settings
from sentinel.db.connect import connect, pg_target


async def stored_samples(settings: Settings, org_id: str, shard: str = "main") -> tuple[int, int]:
    """(rows, distinct (device, seq)) in the organization's telemetry on `shard`."""
    conn = await connect(pg_target(settings, "owner", shard=shard))
    try:
        row = await conn.fetchrow(
            f"SELECT count(*) AS n, count(DISTINCT (device_id, seq)) AS d "
            f"FROM org_{UUID(org_id).hex}.telemetry"
        )
        return int(row["n"]), int(row["d"])
    finally:
        await conn.close()
