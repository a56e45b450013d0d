"""All SQL of telemetry reads; runs inside a tenant transaction."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
from asyncpg import Record

from sentinel.ingest.payloads import SAMPLE_COLUMNS

# The charted metrics: every stored sample column but the flag and the counters.
NUMERIC_METRICS = tuple(c for c in SAMPLE_COLUMNS if c not in ("charging", "uptime_s", "users"))
# Stored as `real` (4 bytes): aggregated through `numeric`, which reads a `real` back as the
# (at most 6 significant digit) decimal the device sent, so a reported 33.3 comes back as 33.3
# and not as its binary neighbour 33.29999923706055.
REAL_METRICS = frozenset(
    {"cpu_pct", "load1", "mem_pct", "swap_pct", "disk_pct", "battery_pct", "temp_c"}
)


def _aggregates(metric: str) -> str:
    if metric in REAL_METRICS:
        return (
            f"avg({metric}::numeric)::float8 AS {metric}, "
            f"max({metric})::numeric::float8 AS {metric}_max"
        )
    return f"avg({metric}) AS {metric}, max({metric}) AS {metric}_max"


async def series(
    conn: asyncpg.Connection,
    device_id: UUID,
    start: datetime,
    end: datetime,
    step_seconds: int,
    metrics: list[str],
) -> list[Record]:
    """Server-side bucketing: average and maximum per metric per `step_seconds` bucket."""
    assert set(metrics) <= set(NUMERIC_METRICS)
    aggregates = ", ".join(_aggregates(m) for m in metrics)
    rows: list[Record] = await conn.fetch(
        f"""SELECT date_bin(make_interval(secs => $4), ts, 'epoch'::timestamptz) AS t,
                   count(*) AS samples, {aggregates}
            FROM telemetry WHERE device_id = $1 AND ts >= $2 AND ts < $3
            GROUP BY 1 ORDER BY 1""",
        device_id,
        start,
        end,
        float(step_seconds),
    )
    return rows


async def device_exists(conn: asyncpg.Connection, device_id: UUID) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM devices WHERE id = $1", device_id))


async def fleet_counts(conn: asyncpg.Connection) -> Record:
    row: Record = await conn.fetchrow(
        """SELECT
             count(*) FILTER (WHERE status = 'active' AND online) AS online,
             count(*) FILTER (WHERE status = 'active' AND NOT online AND last_seen_at IS NOT NULL)
                 AS offline,
             count(*) FILTER (WHERE status = 'active' AND last_seen_at IS NULL) AS never_seen,
             count(*) FILTER (WHERE status = 'revoked') AS revoked,
             count(*) FILTER (WHERE status = 'decommissioned') AS decommissioned,
             count(*) FILTER (WHERE status = 'active' AND (latest->>'disk_pct')::float > $1)
                 AS disk_nearly_full,
             count(*) FILTER (WHERE status = 'active' AND (latest->>'battery_pct')::float < $2
                              AND NOT coalesce((latest->>'charging')::boolean, false))
                 AS battery_low,
             count(*) FILTER (WHERE status = 'active' AND (latest->>'cpu_pct')::float > $3)
                 AS cpu_busy,
             count(*) FILTER (WHERE status = 'active' AND (latest->>'mem_pct')::float > $4)
                 AS memory_high
           FROM devices""",
        90.0,
        20.0,
        90.0,
        90.0,
    )
    return row


async def os_versions(conn: asyncpg.Connection) -> list[Record]:
    rows: list[Record] = await conn.fetch(
        """SELECT coalesce(os_name, 'unknown') AS os_name, coalesce(os_version, '') AS os_version,
                  count(*) AS devices
           FROM devices WHERE status <> 'decommissioned'
           GROUP BY 1, 2 ORDER BY devices DESC, 1, 2 LIMIT 50"""
    )
    return rows
