"""Many devices on MQTTS at one message every 10 s: memory per connection (broker and the
simulating process) and publish → WebSocket latency (p50/p99), at growing fleet sizes until
the machine stops keeping up."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
import uuid
from typing import Any
from uuid import UUID

import psutil
import websockets

from bench.common import https, summary
from sentinel.db.connect import connect, pg_target
from sentinel.simulator.enrollment import enroll_fleet
from sentinel.simulator.fleet import Fleet
from sentinel.stack.launcher import Stack
from sentinel.stack.secrets import load_secrets

INTERVAL = 10.0
WINDOW = 30.0


async def _latencies(stack: Stack, org_id: str, token: str, seconds: float) -> list[float]:
    context = ssl.create_default_context(cafile=str(stack.settings.ca_cert_path))
    url = f"wss://localhost:{stack.settings.https_port}/api/v1/orgs/{org_id}/live"
    out: list[float] = []
    async with websockets.connect(
        url, ssl=context, max_queue=None, subprotocols=["sentinel.v1", f"bearer.{token}"]
    ) as ws:  # type: ignore[list-item]
        end = time.time() + seconds
        while time.time() < end:
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=max(0.1, end - time.time()))
            except TimeoutError:
                break
            event = json.loads(raw)
            if event.get("type") == "telemetry":
                out.append((time.time() - float(event["ts"])) * 1000)
    return out


def level(stack: Stack, devices: int) -> dict[str, Any]:
    settings = stack.settings
    with https(settings) as client:
        body = client.post(
            "/auth/v1/signup",
            json={
                "email": f"c{uuid.uuid4().hex[:8]}@bench.example",
                "password": "benchmark passphrase",
            },
        ).json()
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        org = client.post("/api/v1/orgs", json={"name": f"Fleet {devices}"}, headers=headers).json()

    async def raise_seats() -> None:
        conn = await connect(pg_target(settings, "owner"))
        await conn.execute(
            "UPDATE control.organizations SET seat_limit = 1000000 WHERE id = $1", UUID(org["id"])
        )
        await conn.close()

    asyncio.run(raise_seats())
    start = time.perf_counter()
    credentials = asyncio.run(enroll_fleet(settings, UUID(org["id"]), devices))
    enrolled_s = time.perf_counter() - start
    time.sleep(2)
    broker = psutil.Process(stack.mosquitto.process.pid)  # type: ignore[union-attr]
    me = psutil.Process()
    broker_before, me_before = broker.memory_info().rss, me.memory_info().rss
    fleet = Fleet(
        credentials,
        "localhost",
        settings.mqtts_port,
        str(settings.ca_cert_path),
        INTERVAL,
        outage_rate=0.0,
    )
    runner = threading.Thread(target=lambda: fleet.run(WINDOW + 10, drain_seconds=20))
    runner.start()
    connect_start = time.perf_counter()
    while time.perf_counter() - connect_start < 60:  # connect everything first
        connected = sum(1 for d in fleet.devices if d.connected)
        if connected == devices:
            break
        time.sleep(0.5)
    connect_s = time.perf_counter() - connect_start
    latencies = asyncio.run(_latencies(stack, org["id"], body["access_token"], WINDOW))
    broker_after, me_after = broker.memory_info().rss, me.memory_info().rss
    runner.join(120)
    pending = fleet.pending()
    fleet.close()
    return {
        "devices": devices,
        "connected": connected,
        "enroll_s": round(enrolled_s, 1),
        "connect_s": round(connect_s, 1),
        "ws_latency_ms": {k: round(v, 1) for k, v in summary(latencies).items()},
        "events": len(latencies),
        "broker_kib_per_connection": round((broker_after - broker_before) / 1024 / devices, 1),
        "simulator_kib_per_connection": round((me_after - me_before) / 1024 / devices, 1),
        "pending_after_drain": pending,
    }


def run(stack: Stack, levels: tuple[int, ...] = (250, 1000, 2000)) -> dict[str, Any]:
    load_secrets(stack.settings.secrets_dir)
    results: dict[str, Any] = {}
    for devices in levels:
        outcome = level(stack, devices)
        results[f"devices_{devices}"] = outcome
        if outcome["connected"] < devices or outcome["pending_after_drain"]:
            results["breaks_at"] = devices
            break
    return results
