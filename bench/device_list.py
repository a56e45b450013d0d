"""How fast is the device list's first page with 5,000 devices in one organization?

Boots a throwaway stack (the test harness's, on free ports in a temporary directory), creates an
organization through the API, inserts 5,000 devices straight into the tenant's `devices` table
with the owner role (enrolling them one by one would only measure enrollment), then times, in
the same run and interleaved round by round so that both see the same machine:

- `GET /healthz` — the trivial endpoint, the floor of what any request costs here;
- the device list page (full HTML, 50 rows), its htmx table fragment, a search plus state
  filter, a sort by last contact, and the JSON API list it is built on.

Requests go to the API process directly on loopback (no TLS, no proxy), so the numbers are the
server's time plus a loopback round trip. Not a test: run it by hand.

    .venv/bin/python -m bench.device_list [--devices 5000] [--rounds 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from sentinel.db.tenancy import tenant_schema
from sentinel.stack.launcher import Stack
from tests.db.access import owner_connection
from tests.harness import stack_settings, trust
from tests.people import create_org, signup

GENEROUS = {
    "rate_limit_global": "10000000/minute",
    "rate_limit_org_create": "1000/minute",
    "rate_limit_signup": "1000/minute",
}
OS = [("Windows", "11 23H2"), ("Windows", "10 22H2"), ("ChromeOS", "124"), ("Ubuntu", "22.04")]
RESULTS = Path(__file__).parent / "results"


def device_rows(count: int, groups: list[uuid.UUID]) -> list[tuple[object, ...]]:
    now = datetime.now(UTC)
    rng = random.Random(7)
    rows = []
    for i in range(count):
        online = rng.random() < 0.7
        seen = None if rng.random() < 0.05 else now - timedelta(seconds=rng.randint(0, 86_400))
        os_name, os_version = rng.choice(OS)
        latest = {
            "cpu_pct": round(rng.uniform(0, 100), 1),
            "mem_pct": round(rng.uniform(10, 95), 1),
            "disk_pct": round(rng.uniform(20, 99), 1),
            "battery_pct": round(rng.uniform(5, 100), 1),
        }
        rows.append(
            (
                uuid.uuid4(),
                f"Student PC {i:05d}",
                f"pc-{i:05d}",
                rng.choice(groups),
                ["lab"] if i % 3 == 0 else [],
                "active",
                now - timedelta(days=rng.randint(0, 365)),
                online and seen is not None,
                seen,
                seen,
                i,
                json.dumps(latest) if seen else None,
                os_name,
                os_version,
                "1.4.2",
            )
        )
    return rows


async def populate(stack: Stack, org_id: str, count: int) -> None:
    schema = tenant_schema(uuid.UUID(org_id))
    groups = [uuid.uuid4() for _ in range(20)]
    async with owner_connection(stack.settings) as conn:
        await conn.executemany(
            f"INSERT INTO {schema}.device_groups (id, name) VALUES ($1, $2)",
            [(g, f"Room {n}") for n, g in enumerate(groups)],
        )
        await conn.copy_records_to_table(
            "devices",
            schema_name=schema,
            columns=[
                "id",
                "name",
                "hostname",
                "group_id",
                "tags",
                "status",
                "enrolled_at",
                "online",
                "presence_changed_at",
                "last_seen_at",
                "last_seq",
                "latest",
                "os_name",
                "os_version",
                "agent_version",
            ],
            records=device_rows(count, groups),
        )
        await conn.execute(f"ANALYZE {schema}.devices")


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(cases: dict[str, Callable[[], httpx.Response]], rounds: int) -> dict[str, list[float]]:
    for call in cases.values():  # warm caches, prepared statements, template compilation
        for _ in range(20):
            assert call().status_code == 200
    timings: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, call in cases.items():
            started = time.perf_counter()
            response = call()
            timings[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (name, response.status_code)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sentinel-bench-") as tmp:
        settings = stack_settings(Path(tmp) / "stack", **GENEROUS)
        stack = Stack(settings)
        stack.start()
        try:
            with httpx.Client(base_url=settings.public_url, verify=trust(settings)) as public:
                owner = signup(public)
                org_id = create_org(public, owner, "Benchmark District")["id"]
            asyncio.run(populate(stack, org_id, args.devices))
            direct = f"http://127.0.0.1:{settings.api_port}"
            with httpx.Client(base_url=direct, headers=owner.headers, timeout=30) as api:
                page = f"/orgs/{org_id}/devices"
                fragment = {"HX-Request": "true", "HX-Target": "device-table"}
                cases: dict[str, Callable[[], httpx.Response]] = {
                    "healthz (trivial)": lambda: api.get("/healthz"),
                    "device list page": lambda: api.get(page),
                    "table fragment (htmx)": lambda: api.get(page, headers=fragment),
                    "search + state filter": lambda: api.get(
                        page, params={"q": "pc-04", "status": "online"}
                    ),
                    "sorted by last seen": lambda: api.get(page, params={"sort": "-last_seen"}),
                    "JSON API list": lambda: api.get(f"/api/v1/orgs/{org_id}/devices"),
                }
                rows = api.get(page).text.count("data-device-id=")
                timings = measure(cases, args.rounds)
        finally:
            stack.stop()

    floor_50 = statistics.median(timings["healthz (trivial)"])
    floor_99 = percentile(timings["healthz (trivial)"], 0.99)
    print(f"\n{args.devices} devices, first page of {rows} rows, {args.rounds} rounds\n")
    print(f"{'request':<24}{'p50 ms':>9}{'p99 ms':>9}{'p50 x':>9}{'p99 x':>9}")
    summary = {}
    for name, samples in timings.items():
        p50, p99 = statistics.median(samples), percentile(samples, 0.99)
        summary[name] = {"p50_ms": round(p50, 2), "p99_ms": round(p99, 2)}
        print(f"{name:<24}{p50:>9.2f}{p99:>9.2f}{p50 / floor_50:>9.1f}{p99 / floor_99:>9.1f}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"device_list-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(
        json.dumps({"devices": args.devices, "rounds": args.rounds, **summary}, indent=2)
    )
    print(f"\nsaved {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")


if __name__ == "__main__":
    main()
