"""Enrollment rate (devices/s through the public HTTPS endpoint) against the trivial endpoint,
and the broker's stall while it reloads its password file with 10,000 and 100,000 devices
(a probe's publish→receive round trip, measured before and during the reload)."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.common import https, summary
from sentinel.broker.passwords import mosquitto_hash, render_password_file
from sentinel.stack.files import write_atomic
from sentinel.stack.launcher import Stack
from sentinel.stack.mosquitto import SERVICE_USERNAME
from sentinel.stack.secrets import load_secrets

ENROLLMENTS = 200


def enrollment_rate(stack: Stack) -> dict[str, Any]:
    with https(stack.settings) as client:
        body = client.post(
            "/auth/v1/signup",
            json={
                "email": f"e{uuid.uuid4().hex[:8]}@bench.example",
                "password": "benchmark passphrase",
            },
        ).json()
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        org = client.post("/api/v1/orgs", json={"name": "Enroll"}, headers=headers).json()
        token = client.post(
            f"/api/v1/orgs/{org['id']}/enrollment-tokens",
            json={"label": "bench", "max_uses": ENROLLMENTS},
            headers=headers,
        ).json()
        import asyncio

        from sentinel.db.connect import connect, pg_target

        async def raise_seats() -> None:
            conn = await connect(pg_target(stack.settings, "owner"))
            await conn.execute(
                "UPDATE control.organizations SET seat_limit = 1000000 WHERE id = $1",
                uuid.UUID(org["id"]),
            )
            await conn.close()

        asyncio.run(raise_seats())
        start = time.perf_counter()
        for i in range(ENROLLMENTS):
            client.post(
                "/api/v1/agent/enroll", json={"token": token["token"], "hostname": f"b{i}"}
            ).raise_for_status()
        enroll_s = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(ENROLLMENTS):
            client.get("/healthz").raise_for_status()
        trivial_s = time.perf_counter() - start
    return {
        "devices_per_s": round(ENROLLMENTS / enroll_s, 1),
        "trivial_per_s": round(ENROLLMENTS / trivial_s, 1),
        "ratio": round(trivial_s / enroll_s, 3),
    }


def _probe(stack: Stack, seconds: float, during: threading.Event | None = None) -> list[float]:
    """Round trips of a QoS 1 message from the broker back to the same client."""
    secret = load_secrets(stack.settings.secrets_dir).mqtt_service_password
    got = threading.Event()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"probe-{uuid.uuid4().hex[:6]}",
        protocol=mqtt.MQTTv311,
    )
    client.username_pw_set(SERVICE_USERNAME, secret)
    client.on_message = lambda *_: got.set()
    client.connect("127.0.0.1", stack.settings.mqtt_internal_port)
    client.loop_start()
    client.subscribe("sentinel/bench/probe", 1)
    time.sleep(0.3)
    rtts: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        got.clear()
        start = time.perf_counter()
        client.publish("sentinel/bench/probe", b"x", qos=1)
        got.wait(30)
        rtts.append((time.perf_counter() - start) * 1000)
    client.disconnect()
    client.loop_stop()
    return rtts


def reload_stall(stack: Stack, devices: int) -> dict[str, Any]:
    mosquitto = stack.mosquitto
    entries = [
        (f"{uuid.uuid4()}/devices/{uuid.uuid4()}", mosquitto_hash(uuid.uuid4().hex))
        for _ in range(devices)
    ]
    path = mosquitto.device_password_file
    original = path.read_text()
    baseline = _probe(stack, 2.0)
    write_atomic(path, render_password_file(entries), mode=0o600, owner=mosquitto.user)
    assert mosquitto.process is not None
    result: dict[str, list[float]] = {}
    prober = threading.Thread(target=lambda: result.update(rtt=_probe(stack, 4.0)))
    prober.start()
    time.sleep(0.5)
    start = time.perf_counter()
    os.kill(mosquitto.process.pid, signal.SIGHUP)
    prober.join()
    during = result["rtt"]
    write_atomic(path, original, mode=0o600, owner=mosquitto.user)
    os.kill(mosquitto.process.pid, signal.SIGHUP)
    time.sleep(1)
    return {
        "devices": devices,
        "baseline_rtt_ms": summary(baseline),
        "max_rtt_during_reload_ms": round(max(during), 1),
        "stall_ratio_vs_baseline_p99": round(max(during) / summary(baseline)["p99"], 1),
        "sighup_to_probe_end_s": round(time.perf_counter() - start, 2),
    }


def run(stack: Stack) -> dict[str, Any]:
    return {
        "enrollment": enrollment_rate(stack),
        "reload_10k": reload_stall(stack, 10_000),
        "reload_100k": reload_stall(stack, 100_000),
    }
