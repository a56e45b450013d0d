"""Scale-out on one machine: two ingest processes share the load through the broker's shared
subscription and lose nothing when one is killed; two API replicas behind Caddy both serve
requests and live feeds, and Caddy keeps serving when one replica dies."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest
import websockets

from sentinel.config import Settings
from sentinel.ingest.metrics import STATS_KEY
from sentinel.simulator.enrollment import enroll_fleet
from sentinel.simulator.fleet import Fleet
from sentinel.stack.component import StackError
from sentinel.stack.launcher import Stack
from sentinel.stack.secrets import load_secrets
from tests.conftest import GENEROUS_LIMITS
from tests.harness import PORT_FIELDS, free_ports, trust
from tests.people import create_org, signup
from tests.scaleout.support import stored_samples

DEVICES = 20


def _settings(root: Path) -> Settings:
    chosen = dict(zip(PORT_FIELDS, free_ports(len(PORT_FIELDS)), strict=True))
    return Settings(
        data_dir=root,
        ingest_processes=2,
        api_processes=2,
        worker_heartbeat_seconds=1.0,
        **{**chosen, **GENEROUS_LIMITS},
    )


@pytest.fixture(scope="module")
def replicated() -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="sentinel-scaleout-") as tmp:
        for attempt in range(3):  # the second API replica's port (api_port + 1) may be taken
            stack = Stack(_settings(Path(tmp) / f"stack{attempt}"))
            try:
                stack.start()
                break
            except StackError:
                if attempt == 2:
                    raise
        try:
            yield stack
        finally:
            stack.stop()


def _client(stack: Stack) -> httpx.Client:
    return httpx.Client(
        base_url=stack.settings.public_url, verify=trust(stack.settings), timeout=15
    )


def test_two_ingest_processes_share_load_and_survive_a_kill(replicated: Stack) -> None:
    settings = replicated.settings
    with _client(replicated) as https:
        owner = signup(https)
        org = create_org(https, owner)
    load_secrets(settings.secrets_dir)
    credentials = asyncio.run(enroll_fleet(settings, UUID(org["id"]), DEVICES))
    fleet = Fleet(
        credentials,
        "localhost",
        settings.mqtts_port,
        str(settings.ca_cert_path),
        interval=0.5,
        outage_rate=0.0,
    )
    result: dict[str, object] = {}
    runner = threading.Thread(target=lambda: result.update(stats=fleet.run(20, drain_seconds=40)))
    runner.start()
    try:
        time.sleep(8)
        victim = replicated.ingest[1]
        assert victim.process is not None
        os.kill(victim.process.pid, signal.SIGKILL)
        victim.process.wait(10)
        time.sleep(4)
        victim.spawn(None)
        victim.wait_ready()
    finally:
        runner.join(120)
    pending = fleet.pending()
    fleet.close()
    stats = result["stats"]
    assert pending == 0
    total, distinct = asyncio.run(stored_samples(settings, org["id"]))
    assert total == distinct == stats.sampled  # type: ignore[attr-defined]
    with replicated.redis.client() as client:
        per_process = [client.hgetall(f"{STATS_KEY}:{i}") for i in range(2)]
    stored = [int(p.get(b"samples.stored", 0)) for p in per_process]
    assert all(count > 0 for count in stored), f"both replicas must take load: {stored}"


def test_api_replicas_serve_requests_and_live_feeds_through_caddy(replicated: Stack) -> None:
    settings = replicated.settings
    with _client(replicated) as https:
        owner = signup(https)
        org = create_org(https, owner)
        seen = set()
        for _ in range(6):
            response = https.get("/api/v1/orgs", headers=owner.headers)
            assert response.status_code == 200
            seen.add(response.headers.get("x-request-id"))
        token_response = https.post(
            f"/api/v1/orgs/{org['id']}/enrollment-tokens",
            json={"label": "lab"},
            headers=owner.headers,
        )
        enroll_token = token_response.json()["token"]

    async def feeds() -> list[dict[str, object]]:
        context = ssl.create_default_context(cafile=str(settings.ca_cert_path))
        received: list[dict[str, object]] = []
        urls = [f"wss://localhost:{settings.https_port}/api/v1/orgs/{org['id']}/live"] * 2
        urls += [
            f"ws://127.0.0.1:{port}/api/v1/orgs/{org['id']}/live"
            for port in (settings.api_port, settings.api_port + 1)
        ]
        sockets = []
        for url in urls:
            sockets.append(
                await websockets.connect(
                    url,
                    ssl=context if url.startswith("wss") else None,
                    subprotocols=["sentinel.v1", f"bearer.{owner.access_token}"],
                )
            )  # type: ignore[list-item]
        try:
            for ws in sockets:
                assert json.loads(await ws.recv())["type"] == "hello"
            async with httpx.AsyncClient(
                base_url=settings.public_url, verify=trust(settings)
            ) as client:
                enrolled = await client.post(
                    "/api/v1/agent/enroll", json={"token": enroll_token, "hostname": "pc"}
                )
                assert enrolled.status_code == 200
            for ws in sockets:
                event = json.loads(await asyncio.wait_for(ws.recv(), 5))
                received.append(event)
        finally:
            for ws in sockets:
                await ws.close()
        return received

    events = asyncio.run(feeds())
    assert [e["type"] for e in events] == ["device.enrolled"] * 4

    # Kill one replica: Caddy keeps answering through the other.
    victim = replicated.apis[1]
    assert victim.process is not None
    os.kill(victim.process.pid, signal.SIGKILL)
    victim.process.wait(10)
    try:
        with _client(replicated) as https:
            for _ in range(6):
                assert https.get("/api/v1/orgs", headers=owner.headers).status_code == 200
    finally:
        victim.spawn(None)
        victim.wait_ready()
