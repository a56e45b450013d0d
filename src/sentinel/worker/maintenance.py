"""Per-tenant upkeep jobs run by the worker."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import redis.asyncio as redis

from sentinel.config import Settings
from sentinel.db.partitions import (
    add_months,
    drop_partitions_before,
    ensure_partitions,
    month_start,
)
from sentinel.db.pools import ShardPools
from sentinel.db.tenancy import Tenant, TenantRouter, scope_to_schema, tenant_schema
from sentinel.devices import queries as device_queries
from sentinel.live.events import publish
from sentinel.logging import get_logger
from sentinel.orgs import queries as org_queries
from sentinel.privacy.exports import expire as expire_exports
from sentinel.privacy.queries import purge_audit
from sentinel.privacy.settings import load as load_privacy

log = get_logger(__name__)


async def all_tenants(pools: ShardPools) -> list[Tenant]:
    pool = await pools.control()
    async with pool.acquire() as conn:
        rows = await org_queries.settled_orgs(conn)
    return [Tenant(row["id"], row["shard"]) for row in rows]


@dataclass
class Upkeep:
    created: int = 0
    dropped: list[str] = field(default_factory=list)
    audit_purged: int = 0


def _month_end(start: date) -> datetime:
    end = add_months(start, 1)
    return datetime(end.year, end.month, end.day, tzinfo=UTC)


async def upkeep_tenant(
    owner_pools: ShardPools, tenant: Tenant, now: datetime | None = None
) -> Upkeep:
    """Partitions ahead of time and retention: whole telemetry partitions older than the
    organization's retention are dropped (never deleted row by row); old audit entries go."""
    now = now or datetime.now(UTC)
    schema = tenant_schema(tenant.org_id)
    result = Upkeep()
    pool = await owner_pools.get(tenant.shard)
    async with pool.acquire() as conn, conn.transaction():
        await scope_to_schema(conn, schema)
        privacy = await load_privacy(conn)
        keep = timedelta(days=privacy.telemetry_retention_days)
        # Only months that still hold data inside the retention (no create-then-drop churn).
        current, cutoff = month_start(now), now - keep
        months_back = 0
        while months_back < 3 and _month_end(add_months(current, -(months_back + 1))) > cutoff:
            months_back += 1
        result.created = len(
            await ensure_partitions(conn, schema, months_back=months_back, now=now)
        )
        result.dropped = await drop_partitions_before(conn, schema, now - keep)
        await expire_exports(conn, owner_pools.settings.root / "exports" / str(tenant.org_id))
        result.audit_purged = await purge_audit(
            conn, now - timedelta(days=privacy.audit_retention_days)
        )
    if result.created or result.dropped or result.audit_purged:
        log.info(
            "tenant upkeep",
            org_id=str(tenant.org_id),
            created=result.created,
            dropped=result.dropped,
            audit_purged=result.audit_purged,
        )
    return result


async def partitions(owner_pools: ShardPools) -> int:
    """Upkeep for every tenant; returns how many partitions were created."""
    created = 0
    for tenant in await all_tenants(owner_pools):
        created += (await upkeep_tenant(owner_pools, tenant)).created
    return created


async def offline_sweep(
    app_pools: ShardPools, router: TenantRouter, client: redis.Redis, settings: Settings
) -> int:
    """Mark devices offline that have been silent for three telemetry intervals."""
    silence = settings.telemetry_interval_seconds * 3
    marked = 0
    for tenant in await all_tenants(app_pools):
        async with router.transaction(tenant) as conn:
            silent = await device_queries.mark_silent_offline(conn, float(silence))
        for device_id in silent:
            await publish(client, tenant.org_id, "presence", device_id=device_id, online=False)
        marked += len(silent)
    return marked
