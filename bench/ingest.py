"""Ingest throughput end to end (publish → durable row → receipt, zero loss verified) against
(a) a bare MQTT subscriber that does nothing, fed by the same device publishers, and (b) raw
COPY of the same rows into PostgreSQL — all measured in this run, on this machine."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.common import CpuMeter, https
from sentinel.db.connect import connect, pg_target
from sentinel.ingest.receipts import expand
from sentinel.simulator.enrollment import SimulatedCredential, enroll_fleet
from sentinel.stack.launcher import Stack
from sentinel.stack.mosquitto import SERVICE_USERNAME
from sentinel.stack.secrets import load_secrets

DEVICES = 10
Clients = list[tuple[SimulatedCredential, mqtt.Client]]


def _sample(seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "ts": time.time(),
        "cpu_pct": 12.5,
        "mem_pct": 40.1,
        "disk_pct": 55.0,
        "net_rx_bps": 1200.0,
        "net_tx_bps": 300.0,
        "battery_pct": 80.0,
        "charging": True,
    }


def _publishers(
    stack: Stack,
    credentials: list[SimulatedCredential],
    on_receipt: Callable[[str, bytes], None] | None = None,
) -> Clients:
    clients = []
    for cred in credentials:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=cred.username, protocol=mqtt.MQTTv311
        )
        client.username_pw_set(cred.username, cred.token)
        client.tls_set(ca_certs=str(stack.settings.ca_cert_path))
        client.max_inflight_messages_set(1000)
        if on_receipt is not None:

            def handler(
                _c: object, _u: object, msg: mqtt.MQTTMessage, device: str = cred.device_id
            ) -> None:
                on_receipt(device, bytes(msg.payload))

            client.on_message = handler
        client.connect("localhost", stack.settings.mqtts_port)
        client.loop_start()
        if on_receipt is not None:
            client.subscribe(f"sentinel/{cred.username}/receipts", 1)
        clients.append((cred, client))
    time.sleep(1.0)
    return clients


def _publish_all(clients: Clients, per_device: int) -> None:
    for seq in range(per_device):
        for cred, client in clients:
            client.publish(
                f"sentinel/{cred.username}/telemetry",
                json.dumps({"v": 1, "samples": [_sample(seq)]}),
                qos=1,
            )


def _close(clients: Clients) -> None:
    for _, client in clients:
        client.disconnect()
        client.loop_stop()


def bare_subscriber(
    stack: Stack, org_id: UUID, credentials: list[SimulatedCredential], messages: int
) -> float:
    """Messages/s a do-nothing QoS 1 subscriber receives from the same device publishers
    (ingest is stopped meanwhile; its persistent session keeps the messages for later)."""
    secret = load_secrets(stack.settings.secrets_dir).mqtt_service_password
    total = (messages // len(credentials)) * len(credentials)
    received = 0
    done = threading.Event()

    def on_message(*_: object) -> None:
        nonlocal received
        received += 1
        if received == total:
            done.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-sub", protocol=mqtt.MQTTv311)
    sub.username_pw_set(SERVICE_USERNAME, secret)
    sub.on_message = on_message
    sub.connect("127.0.0.1", stack.settings.mqtt_internal_port)
    sub.loop_start()
    sub.subscribe(f"sentinel/{org_id}/devices/+/telemetry", 1)
    ingest = stack.ingest[0]
    ingest.stop()
    clients = _publishers(stack, credentials)
    try:
        start = time.perf_counter()
        _publish_all(clients, messages // len(credentials))
        done.wait(120)
        elapsed = time.perf_counter() - start
    finally:
        _close(clients)
        sub.disconnect()
        sub.loop_stop()
        ingest.spawn(None)
        ingest.wait_ready()
    return received / elapsed


def end_to_end(
    stack: Stack, org_id: UUID, credentials: list[SimulatedCredential], messages: int
) -> dict[str, Any]:
    per_device = messages // len(credentials)
    receipts: dict[str, set[int]] = {c.device_id: set() for c in credentials}
    lock = threading.Lock()
    done = threading.Event()

    def on_receipt(device_id: str, payload: bytes) -> None:
        body = json.loads(payload)
        with lock:
            receipts[device_id].update(expand(body["stored"]))
            if all(len(s) >= per_device for s in receipts.values()):
                done.set()

    clients = _publishers(stack, credentials, on_receipt)
    assert stack.ingest[0].process and stack.mosquitto.process and stack.postgres.process
    pids = {
        "ingest": stack.ingest[0].process.pid,
        "mosquitto": stack.mosquitto.process.pid,
        "postgres": stack.postgres.process.pid,
    }
    with CpuMeter(pids) as cpu:
        start = time.perf_counter()
        _publish_all(clients, per_device)
        done.wait(300)
        elapsed = time.perf_counter() - start
    _close(clients)
    stored = asyncio.run(_count(stack, org_id))
    total = per_device * len(credentials)
    return {
        "messages": total,
        "seconds": round(elapsed, 2),
        "messages_per_s": round(total / elapsed),
        "stored_rows": stored,
        "zero_loss": stored == total and all(len(s) == per_device for s in receipts.values()),
        "cpu_seconds": cpu.used,
    }


async def _count(stack: Stack, org_id: UUID) -> int:
    conn = await connect(pg_target(stack.settings, "owner"))
    try:
        n: int = await conn.fetchval(
            f"SELECT count(DISTINCT (device_id, seq)) FROM org_{org_id.hex}.telemetry"
        )
        return n
    finally:
        await conn.close()


async def raw_copy(stack: Stack, org_id: UUID, rows: int) -> float:
    """Rows/s of COPY straight into the same partitioned, indexed table."""
    conn = await connect(pg_target(stack.settings, "owner"))
    try:
        device, now = uuid.uuid4(), time.time()
        records = [
            (
                device,
                i,
                datetime.fromtimestamp(now - i * 0.001, UTC),
                12.5,
                40.1,
                55.0,
                1200.0,
                300.0,
                80.0,
                True,
            )
            for i in range(rows)
        ]
        start = time.perf_counter()
        await conn.copy_records_to_table(
            "telemetry",
            schema_name=f"org_{org_id.hex}",
            records=records,
            columns=[
                "device_id",
                "seq",
                "ts",
                "cpu_pct",
                "mem_pct",
                "disk_pct",
                "net_rx_bps",
                "net_tx_bps",
                "battery_pct",
                "charging",
            ],
        )
        return rows / (time.perf_counter() - start)
    finally:
        await conn.close()


def run(stack: Stack, messages: int = 20_000) -> dict[str, Any]:
    settings = stack.settings
    load_secrets(settings.secrets_dir)
    with https(settings) as client:
        body = {
            "email": f"b{uuid.uuid4().hex[:8]}@bench.example",
            "password": "benchmark passphrase",
        }
        token = client.post("/auth/v1/signup", json=body).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        org = client.post("/api/v1/orgs", json={"name": "Bench"}, headers=headers).json()
        baseline = client.post("/api/v1/orgs", json={"name": "Baseline"}, headers=headers).json()
    org_id, baseline_id = UUID(org["id"]), UUID(baseline["id"])
    credentials = asyncio.run(enroll_fleet(settings, org_id, DEVICES))
    baseline_credentials = asyncio.run(enroll_fleet(settings, baseline_id, DEVICES))
    time.sleep(2)  # the worker loads the new credentials into the broker
    bare = bare_subscriber(stack, baseline_id, baseline_credentials, messages)
    time.sleep(8)  # ingest drains the baseline's backlog before the measured run
    e2e = end_to_end(stack, org_id, credentials, messages)
    copy_rate = asyncio.run(raw_copy(stack, org_id, messages))
    return {
        "bare_subscriber_msgs_per_s": round(bare),
        "raw_copy_rows_per_s": round(copy_rate),
        "end_to_end": e2e,
        "ratio_e2e_vs_bare_subscriber": round(e2e["messages_per_s"] / bare, 3),
        "ratio_e2e_vs_raw_copy": round(e2e["messages_per_s"] / copy_rate, 3),
    }
