"""API latency: the device list with 1,000 and 5,000 devices against a trivial endpoint on the
same server, in the same run (p50/p99 and requests/s at a fixed concurrency)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any
from uuid import UUID

import httpx

from bench.common import https, summary
from sentinel.db.connect import connect, pg_target
from sentinel.stack.launcher import Stack

REQUESTS = 300
CONCURRENCY = 8


async def _fill(stack: Stack, org_id: UUID, count: int) -> None:
    conn = await connect(pg_target(stack.settings, "owner"))
    try:
        now = time.time()
        from datetime import UTC, datetime

        rows = [
            (
                uuid.uuid4(),
                f"PC {i:05d}",
                f"pc-{i:05d}",
                True,
                datetime.fromtimestamp(now - i, UTC),
                json.dumps({"cpu_pct": 10.0, "mem_pct": 50.0}),
                "Debian GNU/Linux",
                "12",
            )
            for i in range(count)
        ]
        await conn.copy_records_to_table(
            "devices",
            schema_name=f"org_{org_id.hex}",
            records=rows,
            columns=[
                "id",
                "name",
                "hostname",
                "online",
                "last_seen_at",
                "latest",
                "os_name",
                "os_version",
            ],
        )
    finally:
        await conn.close()


async def _measure(base: str, path: str, headers: dict[str, str]) -> dict[str, float]:
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        for _ in range(20):  # warm up
            (await client.get(path)).raise_for_status()
        for _ in range(REQUESTS):
            start = time.perf_counter()
            (await client.get(path)).raise_for_status()
            latencies.append((time.perf_counter() - start) * 1000)
        queue = list(range(REQUESTS))

        async def worker() -> None:
            while queue:
                queue.pop()
                (await client.get(path)).raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        throughput = REQUESTS / (time.perf_counter() - start)
    return {
        **{f"{k}_ms": round(v, 2) for k, v in summary(latencies).items()},
        "requests_per_s": round(throughput),
    }


def run(stack: Stack) -> dict[str, Any]:
    settings = stack.settings
    base = f"http://127.0.0.1:{settings.api_port}"  # server time: straight to the API process
    results: dict[str, Any] = {}
    with https(settings) as client:
        body = client.post(
            "/auth/v1/signup",
            json={
                "email": f"a{uuid.uuid4().hex[:8]}@bench.example",
                "password": "benchmark passphrase",
            },
        ).json()
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        for size in (1000, 5000):
            org = client.post(
                "/api/v1/orgs", json={"name": f"Bench {size}"}, headers=headers
            ).json()
            asyncio.run(_fill(stack, UUID(org["id"]), size))
            trivial = asyncio.run(_measure(base, "/healthz", {}))
            listing = asyncio.run(
                _measure(base, f"/api/v1/orgs/{org['id']}/devices?limit=50", headers)
            )
            results[f"devices_{size}"] = {
                "device_list": listing,
                "trivial": trivial,
                "ratio_p50_list_vs_trivial": round(listing["p50_ms"] / trivial["p50_ms"], 2),
                "ratio_rps_list_vs_trivial": round(
                    listing["requests_per_s"] / trivial["requests_per_s"], 3
                ),
            }
    return results
