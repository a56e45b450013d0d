"""Tenants on two PostgreSQL clusters: the router picks each organization's shard, new
organizations are placed on the least loaded one, and `sentinel move-org` moves a live
organization to another shard while its devices keep sending — nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from sentinel.config import Settings
from sentinel.db.connect import connect, pg_target
from sentinel.simulator.enrollment import enroll_fleet
from sentinel.simulator.fleet import Fleet
from sentinel.stack.launcher import Stack
from sentinel.stack.secrets import load_secrets
from sentinel.stack.sentinel_processes import settings_env
from tests.conftest import GENEROUS_LIMITS
from tests.harness import PORT_FIELDS, free_ports, trust
from tests.people import create_org, signup
from tests.scaleout.support import stored_samples


@pytest.fixture(scope="module")
def sharded() -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="sentinel-shards-") as tmp:
        ports = free_ports(len(PORT_FIELDS) + 1)
        settings = Settings(
            data_dir=Path(tmp),
            worker_heartbeat_seconds=1.0,
            org_placement="least_loaded",
            extra_shards={"b": ports[-1]},
            **{**dict(zip(PORT_FIELDS, ports[:-1], strict=True)), **GENEROUS_LIMITS},
        )
        stack = Stack(settings)
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()


async def _where(settings: Settings, org_id: str) -> dict[str, bool]:
    schema = f"org_{UUID(org_id).hex}"
    found = {}
    for shard in ("main", "b"):
        conn = await connect(pg_target(settings, "owner", shard=shard))
        try:
            found[shard] = bool(
                await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema)
            )
        finally:
            await conn.close()
    return found


def test_organizations_are_placed_on_both_shards_and_routed(sharded: Stack) -> None:
    settings = sharded.settings
    with httpx.Client(base_url=settings.public_url, verify=trust(settings), timeout=15) as https:
        owner = signup(https)
        first, second = create_org(https, owner), create_org(https, owner)
        places = [asyncio.run(_where(settings, org["id"])) for org in (first, second)]
        # One on each shard, and each schema exists on exactly one.
        assert sorted(next(s for s, here in p.items() if here) for p in places) == ["b", "main"]
        assert all(sum(p.values()) == 1 for p in places)
        for org in (first, second):
            response = https.post(
                f"/api/v1/orgs/{org['id']}/device-groups",
                json={"name": "Library"},
                headers=owner.headers,
            )
            assert response.status_code == 201, response.text
            listing = https.get(f"/api/v1/orgs/{org['id']}/audit-log", headers=owner.headers)
            assert listing.json()["items"][0]["action"] == "group.created"


def test_move_org_while_devices_send_loses_nothing(sharded: Stack) -> None:
    settings = sharded.settings
    with httpx.Client(base_url=settings.public_url, verify=trust(settings), timeout=15) as https:
        owner = signup(https)
        org = create_org(https, owner)
    source = next(s for s, here in asyncio.run(_where(settings, org["id"])).items() if here)
    target = "b" if source == "main" else "main"
    load_secrets(settings.secrets_dir)
    credentials = asyncio.run(enroll_fleet(settings, UUID(org["id"]), 10))
    fleet = Fleet(
        credentials,
        "localhost",
        settings.mqtts_port,
        str(settings.ca_cert_path),
        interval=0.5,
        outage_rate=0.0,
    )
    outcome: dict[str, object] = {}
    runner = threading.Thread(target=lambda: outcome.update(stats=fleet.run(25, 60)))
    runner.start()
    try:
        time.sleep(5)
        moved = subprocess.run(
            [sys.executable, "-m", "sentinel", "move-org", "--org", org["id"], "--to", target],
            env=settings_env(settings),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert moved.returncode == 0, moved.stderr
    finally:
        runner.join(180)
    pending = fleet.pending()
    fleet.close()
    assert pending == 0
    assert asyncio.run(_where(settings, org["id"])) == {source: False, target: True}
    total, distinct = asyncio.run(stored_samples(settings, org["id"], target))
    assert total == distinct == outcome["stats"].sampled  # type: ignore[attr-defined]
    with httpx.Client(base_url=settings.public_url, verify=trust(settings), timeout=15) as https:
        devices = https.get(f"/api/v1/orgs/{org['id']}/devices", headers=owner.headers)
        assert devices.status_code == 200 and len(devices.json()["items"]) == 10
