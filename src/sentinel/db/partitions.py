"""Monthly partitions of a tenant's `telemetry` table: created ahead, dropped whole at
retention (never deleted row by row). Runs as the owner role (the schema owner)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg

from sentinel.db.tenancy import checked_schema


def month_start(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + (day.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"telemetry_y{month.year:04d}m{month.month:02d}"


async def ensure_partitions(
    conn: asyncpg.Connection,
    schema: str,
    months_back: int = 3,
    months_ahead: int = 2,
    now: datetime | None = None,
) -> list[str]:
    """Create any missing monthly partition from `months_back` before to `months_ahead` after
    the current month; returns the names created."""
    schema = checked_schema(schema)
    current = month_start(now or datetime.now(UTC))
    created = []
    for offset in range(-months_back, months_ahead + 1):
        start = add_months(current, offset)
        name = partition_name(start)
        exists = await conn.fetchval(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = $1 AND c.relname = $2",
            schema,
            name,
        )
        if exists:
            continue
        await conn.execute(
            f"CREATE TABLE {schema}.{name} PARTITION OF {schema}.telemetry "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{add_months(start, 1).isoformat()}')"
        )
        created.append(name)
    return created


async def drop_partitions_before(
    conn: asyncpg.Connection, schema: str, cutoff: datetime
) -> list[str]:
    """Drop every partition whose whole range ends at or before `cutoff`."""
    schema = checked_schema(schema)
    rows = await conn.fetch(
        """SELECT c.relname FROM pg_inherits i
           JOIN pg_class c ON c.oid = i.inhrelid
           JOIN pg_class p ON p.oid = i.inhparent
           JOIN pg_namespace n ON n.oid = p.relnamespace
           WHERE n.nspname = $1 AND p.relname = 'telemetry'""",
        schema,
    )
    dropped = []
    for row in rows:
        name: str = row["relname"]
        try:
            year, month = int(name[11:15]), int(name[16:18])
        except ValueError:
            continue
        end = add_months(date(year, month, 1), 1)
        if datetime(end.year, end.month, end.day, tzinfo=UTC) <= cutoff:
            await conn.execute(f"DROP TABLE {schema}.{name}")
            dropped.append(name)
    return sorted(dropped)


async def oldest_partition_start(conn: asyncpg.Connection, schema: str) -> date | None:
    names = await conn.fetch(
        """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace
           WHERE n.nspname = $1 AND p.relname = 'telemetry'""",
        checked_schema(schema),
    )
    starts = [date(int(r["relname"][11:15]), int(r["relname"][16:18]), 1) for r in names]
    return min(starts) if starts else None
