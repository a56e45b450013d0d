"""Retention is enforced and visible.

Telemetry is kept in monthly partitions. Samples are placed in the oldest partition (three
months back), in the one after it and in the current month; the owner then lowers telemetry
retention so that only the oldest month lies wholly beyond it. The next worker run
(`upkeep_tenant`, as the worker calls it every ten minutes) drops exactly that partition — it
is gone from `pg_inherits` with its rows — and `GET …/privacy` shows the new oldest sample.
Raising retention again recreates an empty partition ahead of ingest but brings nothing back.
Audit entries older than the audit retention are purged on the same run; newer ones stay.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from sentinel.config import Settings
from sentinel.db.partitions import add_months, month_start, partition_name
from sentinel.db.pools import ShardPools
from sentinel.db.tenancy import Tenant
from sentinel.stack.launcher import Stack
from sentinel.worker.maintenance import upkeep_tenant
from tests.privacy.support import School, new_school, ok, owner_db


def _at(day: date, days: int = 14, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) + timedelta(days=days)


async def _partitions(conn: asyncpg.Connection, schema: str) -> set[str]:
    rows = await conn.fetch(
        """SELECT c.relname FROM pg_inherits i
           JOIN pg_class c ON c.oid = i.inhrelid
           JOIN pg_class p ON p.oid = i.inhparent
           JOIN pg_namespace n ON n.oid = p.relnamespace
           WHERE n.nspname = $1 AND p.relname = 'telemetry'""",
        schema,
    )
    return {r["relname"] for r in rows}


async def _put(ahttps: httpx.AsyncClient, school: School, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = ok(
        await ahttps.put(school.url("privacy"), json=changes, headers=school.owner.headers)
    )
    return body


async def _oldest(ahttps: httpx.AsyncClient, school: School) -> dict[str, datetime | None]:
    view = ok(await ahttps.get(school.url("privacy"), headers=school.owner.headers))
    return {k: None if v is None else datetime.fromisoformat(v) for k, v in view["oldest"].items()}


async def test_lowering_retention_drops_old_partitions_on_the_next_run(
    stack: Stack, https: httpx.Client, ahttps: httpx.AsyncClient, settings: Settings
) -> None:
    school = new_school(https, devices=1)
    device_id = UUID(school.devices[0].device_id)
    # Long retention first, so no worker run in between drops anything behind our back.
    await _put(ahttps, school, telemetry_retention_days=730)

    now = datetime.now(UTC)
    current = month_start(now)
    oldest_month, next_month = add_months(current, -3), add_months(current, -2)
    samples = {
        1: _at(oldest_month),
        2: _at(oldest_month, days=20),
        3: _at(next_month),
        4: now - timedelta(minutes=5),
    }
    async with owner_db(settings) as conn:
        await conn.executemany(
            f"INSERT INTO {school.schema}.telemetry (device_id, seq, ts, cpu_pct) "
            "VALUES ($1, $2, $3, 50)",
            [(device_id, seq, ts) for seq, ts in samples.items()],
        )
        before = await _partitions(conn, school.schema)
    assert partition_name(oldest_month) in before
    assert (await _oldest(ahttps, school))["telemetry"] == samples[1]

    # Retention that reaches just past the end of the oldest month, not past the next one.
    oldest_end = datetime(next_month.year, next_month.month, 1, tzinfo=UTC)
    days = (now - oldest_end).days
    view = await _put(ahttps, school, telemetry_retention_days=days)
    cutoff = datetime.fromisoformat(view["retention"]["telemetry_older_than"])
    assert oldest_end <= cutoff < samples[3]

    owner_pools = ShardPools(settings, "owner", max_size=1)
    try:
        tenant = Tenant(UUID(school.org_id), "main")
        upkeep = await upkeep_tenant(owner_pools, tenant)
        assert upkeep.dropped == [partition_name(oldest_month)]
        async with owner_db(settings) as conn:
            after = await _partitions(conn, school.schema)
            left = await conn.fetch(f"SELECT seq FROM {school.schema}.telemetry ORDER BY seq")
        assert after == before - {partition_name(oldest_month)}
        assert [r["seq"] for r in left] == [3, 4]
        assert (await _oldest(ahttps, school))["telemetry"] == samples[3]

        # Raising retention again: the partition comes back empty, the samples do not.
        await _put(ahttps, school, telemetry_retention_days=730)
        again = await upkeep_tenant(owner_pools, tenant)
        assert again.dropped == []
        async with owner_db(settings) as conn:
            assert partition_name(oldest_month) in await _partitions(conn, school.schema)
            left = await conn.fetch(f"SELECT seq FROM {school.schema}.telemetry ORDER BY seq")
        assert [r["seq"] for r in left] == [3, 4]
        assert (await _oldest(ahttps, school))["telemetry"] == samples[3]
    finally:
        await owner_pools.close()


async def test_audit_entries_older_than_retention_are_purged(
    stack: Stack, https: httpx.Client, ahttps: httpx.AsyncClient, settings: Settings
) -> None:
    school = new_school(https)
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=45), now - timedelta(days=20)
    async with owner_db(settings) as conn:
        for at, action in ((old, "test.old"), (recent, "test.recent")):
            await conn.execute(
                f"INSERT INTO {school.schema}.audit_log (at, actor_type, action) "
                "VALUES ($1, 'system', $2)",
                at,
                action,
            )
    assert (await _oldest(ahttps, school))["audit_log"] == old
    await _put(ahttps, school, audit_retention_days=30)

    owner_pools = ShardPools(settings, "owner", max_size=1)
    try:
        upkeep = await upkeep_tenant(owner_pools, Tenant(UUID(school.org_id), "main"))
    finally:
        await owner_pools.close()
    assert upkeep.audit_purged == 1
    async with owner_db(settings) as conn:
        actions = {
            r["action"] for r in await conn.fetch(f"SELECT action FROM {school.schema}.audit_log")
        }
    assert "test.old" not in actions
    assert {"test.recent", "org.created", "privacy.updated"} <= actions
    assert (await _oldest(ahttps, school))["audit_log"] == recent
