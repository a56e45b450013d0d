"""Per-tenant upkeep jobs run by the worker."""

from __future__ import annotations

import redis.asyncio as redis

from sentinel.config import Settings
from sentinel.db.partitions import ensure_partitions
from sentinel.db.pools import ShardPools
from sentinel.db.tenancy import Tenant, TenantRouter, tenant_schema
from sentinel.live.events import publish
from sentinel.logging import get_logger

log = get_logger(__name__)


async def all_tenants(pools: ShardPools) -> list[Tenant]:
    pool = await pools.control()
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT id, shard FROM control.organizations ORDER BY id")
    return [Tenant(row["id"], row["shard"]) for row in rows]


async def partitions(owner_pools: ShardPools) -> int:
    """Create next months' telemetry partitions for every tenant; returns how many."""
    created = 0
    for tenant in await all_tenants(owner_pools):
        pool = await owner_pools.get(tenant.shard)
        async with pool.acquire() as conn, conn.transaction():
            created += len(await ensure_partitions(conn, tenant_schema(tenant.org_id)))
    if created:
        log.info("telemetry partitions created", count=created)
    return created


async def offline_sweep(
    app_pools: ShardPools, router: TenantRouter, client: redis.Redis, settings: Settings
) -> int:
    """Mark devices offline that have been silent for three telemetry intervals."""
    silence = settings.telemetry_interval_seconds * 3
    marked = 0
    for tenant in await all_tenants(app_pools):
        async with router.transaction(tenant) as conn:
            rows = await conn.fetch(
                """UPDATE devices SET online = false, presence_changed_at = now()
                   WHERE online AND last_seen_at < now() - make_interval(secs => $1)
                   RETURNING id""",
                float(silence),
            )
        for row in rows:
            await publish(client, tenant.org_id, "presence", device_id=row["id"], online=False)
        marked += len(rows)
    return marked
