"""Samples older than the organization's telemetry retention are refused one by one — listed in
the receipt's `rejected` (so the agent forgets them) and counted as `expired` — and
never stored, even when retention has already dropped the partition they would belong to. That
case must not fail the batch (and with it the other devices' messages) or leave the agent
resending samples that can never be stored."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from uuid import UUID

import httpx
import redis

from sentinel.config import Settings
from sentinel.db.partitions import partition_name
from sentinel.db.pools import ShardPools
from sentinel.db.tenancy import Tenant
from sentinel.ingest.receipts import expand
from sentinel.worker.maintenance import upkeep_tenant
from tests.fleet import DeviceClient
from tests.ingest.support import (
    connected,
    fetch,
    ingest_stats,
    new_device,
    new_org,
    run_async,
    stats_delta,
    stored_rows,
    wait_for,
)

RETENTION_DAYS = 7
DAY = 86_400.0


def rejected_seqs(device: DeviceClient) -> set[int]:
    with device.lock:
        return {seq for r in device.receipts for seq in expand(r["rejected"])}


def retention_upkeep(settings: Settings, org_id: str) -> list[str]:
    """What the worker does every few minutes: drop partitions older than the retention."""

    async def run() -> list[str]:
        pools = ShardPools(settings, "owner", max_size=1)
        try:
            control = await pools.control()
            shard = await control.fetchval(
                "SELECT shard FROM control.organizations WHERE id = $1", UUID(org_id)
            )
            return (await upkeep_tenant(pools, Tenant(UUID(org_id), shard))).dropped
        finally:
            await pools.close()

    return run_async(run)


def test_samples_expired_are_refused_in_the_receipt(
    https: httpx.Client, settings: Settings, redis_client: redis.Redis
) -> None:
    org = new_org(https)
    response = https.put(
        org.path("/privacy"),
        json={"telemetry_retention_days": RETENTION_DAYS},
        headers=org.owner.headers,
    )
    assert response.status_code == 200, response.text
    dropped = retention_upkeep(settings, org.org_id)
    assert dropped, "retention dropped no partition; the scenario needs one"
    schema_partitions = {
        r["relname"]
        for r in fetch(
            settings,
            org.org_id,
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
            "WHERE n.nspname = $1 AND p.relname = 'telemetry'",
            f"org_{UUID(org.org_id).hex}",
        )
    }
    now = time.time()
    in_dropped_partition = now - 80 * DAY  # still inside ingest's accepted clock window
    assert (
        partition_name(datetime.fromtimestamp(in_dropped_partition, UTC)) not in schema_partitions
    )

    old, neighbour = new_device(https, org), new_device(https, org)
    before = ingest_stats(redis_client)
    with connected(settings, old) as device, connected(settings, neighbour) as other:
        device.publish(
            "telemetry",
            {
                "v": 1,
                "samples": [
                    {"seq": 0, "ts": in_dropped_partition, "cpu_pct": 1.0},
                    {"seq": 1, "ts": now - (RETENTION_DAYS + 1) * DAY, "cpu_pct": 2.0},
                    {"seq": 2, "ts": now - (RETENTION_DAYS - 1) * DAY, "cpu_pct": 3.0},
                    {"seq": 3, "ts": now, "cpu_pct": 4.0},
                ],
            },
        )
        other.send_samples([0, 1], cpu_pct=5.0)  # in the same batch, and unharmed
        device.wait_receipts({2, 3})
        other.wait_receipts({0, 1})
        wait_for(lambda: rejected_seqs(device) == {0, 1}, what="receipt refusing seq 0 and 1")
        assert device.stored_seqs() == {2, 3}
        wait_for(
            lambda: stats_delta(before, ingest_stats(redis_client)).get("rejected.expired") == 2,
            timeout=5,
            what="expired counted",
        )
    delta = stats_delta(before, ingest_stats(redis_client))
    assert "rejected.write_failed" not in delta
    assert [r["seq"] for r in stored_rows(settings, org.org_id, old.device_id)] == [2, 3]
    assert [r["seq"] for r in stored_rows(settings, org.org_id, neighbour.device_id)] == [0, 1]
