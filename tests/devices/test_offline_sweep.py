"""The worker's offline sweep: a device still marked online but silent for three telemetry
intervals (no Last Will arrived, e.g. across a broker restart) is marked offline; a device
that reported recently is left alone; an organization being moved is skipped."""

from __future__ import annotations

from uuid import UUID

import httpx
import redis.asyncio as redis

from sentinel.config import Settings
from sentinel.db.connect import connect, pg_target
from sentinel.db.pools import ShardPools
from sentinel.db.tenancy import TenantRouter
from sentinel.stack.secrets import Secrets
from sentinel.worker.maintenance import all_tenants, offline_sweep
from tests.fleet import DeviceClient, enroll, enrollment_token
from tests.people import create_org, signup


async def test_silent_devices_are_marked_offline(
    https: httpx.Client, settings: Settings, secrets: Secrets
) -> None:
    owner = signup(https)
    org = create_org(https, owner)
    token = enrollment_token(https, owner, org["id"])
    silent, talking = enroll(https, token), enroll(https, token)
    for enrolled in (silent, talking):
        device = DeviceClient(settings, enrolled)
        device.connect()
        device.send_samples([0], cpu_pct=5.0)
        device.wait_receipts({0})
        device.close()
    schema = f"org_{UUID(org['id']).hex}"
    conn = await connect(pg_target(settings, "owner"))
    try:
        await conn.execute(
            f"UPDATE {schema}.devices SET online = true, "
            f"last_seen_at = CASE WHEN id = $1 THEN now() - interval '1 day' ELSE now() END",
            UUID(silent.device_id),
        )
    finally:
        await conn.close()
    pools = ShardPools(settings, "app")
    cache = redis.Redis(host="127.0.0.1", port=settings.redis_port, password=secrets.redis_password)
    try:
        assert UUID(org["id"]) in {t.org_id for t in await all_tenants(pools)}
        assert await offline_sweep(pools, TenantRouter(pools), cache, settings) >= 1
    finally:
        await cache.aclose()
        await pools.close()
    conn = await connect(pg_target(settings, "owner"))
    try:
        rows = await conn.fetch(f"SELECT id, online FROM {schema}.devices")
    finally:
        await conn.close()
    assert {str(r["id"]): r["online"] for r in rows} == {
        silent.device_id: False,
        talking.device_id: True,
    }
