"""Helpers shared by the ingest, live and telemetry tests: organizations with enrolled devices,
connected device clients, a service-credential MQTT client on the loopback listener (to publish
what a device could not), the ingest counters, and direct reads of a tenant's telemetry."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import httpx
import paho.mqtt.client as mqtt
import redis
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from sentinel.config import Settings
from sentinel.db.connect import MAIN_SHARD, connect, pg_target
from sentinel.db.tenancy import tenant_schema
from sentinel.ingest.metrics import STATS_KEY
from sentinel.stack.mosquitto import SERVICE_USERNAME
from sentinel.stack.secrets import Secrets
from tests.fleet import DeviceClient, Enrollment, enroll, enrollment_token
from tests.people import User, create_org, signup

T = TypeVar("T")
OFFLINE = {"v": 1, "state": "offline"}
ONLINE = {"v": 1, "state": "online"}


@dataclass(frozen=True)
class Org:
    owner: User
    org_id: str
    enrollment_token: str

    def path(self, suffix: str = "") -> str:
        return f"/api/v1/orgs/{self.org_id}{suffix}"


def new_org(https: httpx.Client) -> Org:
    """A fresh organization with its own owner and a reusable enrollment token."""
    owner = signup(https)
    org_id: str = create_org(https, owner)["id"]
    return Org(owner, org_id, enrollment_token(https, owner, org_id))


def new_device(https: httpx.Client, org: Org, hostname: str | None = None) -> Enrollment:
    enrollment = enroll(https, org.enrollment_token, hostname)
    assert enrollment.org_id == org.org_id
    return enrollment


def wait_for(
    probe: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll `probe` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what or probe}")
        time.sleep(interval)


@contextmanager
def connected(
    settings: Settings, enrollment: Enrollment, will: dict[str, Any] | None = None
) -> Iterator[DeviceClient]:
    """A device connected over MQTTS (optionally with a retained Last Will on `status`)."""
    device = DeviceClient(settings, enrollment)
    if will is not None:
        device.client.will_set(f"{enrollment.prefix}/status", json.dumps(will), qos=1, retain=True)
    device.connect()
    try:
        yield device
    finally:
        device.close()


def drop_connection(device: DeviceClient) -> None:
    """End the device's connection without an MQTT DISCONNECT, as a crash or a pulled cable
    would: the broker then publishes the device's Last Will."""
    device.client.loop_stop()
    sock = device.client.socket()
    assert sock is not None
    sock.close()


class ServicePublisher:
    """Sentinel's own credential on the loopback listener: may publish on any device topic, so
    it can send what a revoked or unknown device never could."""

    def __init__(self, settings: Settings, secrets_: Secrets) -> None:
        self.connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-service-{secrets.token_hex(4)}",
            protocol=mqtt.MQTTv311,
        )
        self.client.username_pw_set(SERVICE_USERNAME, secrets_.mqtt_service_password)
        self.client.on_connect = self._on_connect
        self.client.connect("127.0.0.1", settings.mqtt_internal_port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(10):
            self.close()
            raise TimeoutError("service client could not connect")

    def _on_connect(
        self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object
    ) -> None:
        if not rc.is_failure:
            self.connected.set()

    def publish(self, topic: str, payload: bytes | dict[str, Any]) -> None:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.client.publish(topic, raw, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def service_publisher(settings: Settings, secrets_: Secrets) -> Iterator[ServicePublisher]:
    publisher = ServicePublisher(settings, secrets_)
    try:
        yield publisher
    finally:
        publisher.close()


def topic(org_id: str | UUID, device_id: str | UUID, kind: str) -> str:
    return f"sentinel/{org_id}/devices/{device_id}/{kind}"


def ingest_stats(client: redis.Redis) -> dict[str, int]:
    raw: dict[bytes, bytes] = client.hgetall(STATS_KEY)  # type: ignore[assignment]
    return {k.decode(): int(v) for k, v in raw.items()}


def stats_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {
        k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)
    }


def get_device(https: httpx.Client, org: Org, device_id: str) -> dict[str, Any]:
    response = https.get(org.path(f"/devices/{device_id}"), headers=org.owner.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_device(
    https: httpx.Client,
    org: Org,
    device_id: str,
    condition: Callable[[dict[str, Any]], bool],
    timeout: float = 10.0,
    what: str = "",
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        body = get_device(https, org, device_id)
        return body if condition(body) else None

    return wait_for(probe, timeout, interval=0.1, what=what or "device state")


@asynccontextmanager
async def owner_db(
    settings: Settings, shard: str = MAIN_SHARD
) -> AsyncIterator[asyncpg.Connection]:
    """The schema owner's connection to one shard; it reads every tenant schema there."""
    conn = await connect(pg_target(settings, "owner", shard=shard))
    try:
        yield conn
    finally:
        await conn.close()


def telemetry_table(org_id: str | UUID) -> str:
    return f"{tenant_schema(UUID(str(org_id)))}.telemetry"


def run_async(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from synchronous test code, on its own event loop in a helper thread
    (so it never touches the session's loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()


def fetch(settings: Settings, org_id: str | UUID, query: str, *args: Any) -> list[asyncpg.Record]:
    """Run one query as the owner on the shard that holds the organization."""

    async def run() -> list[asyncpg.Record]:
        async with owner_db(settings) as control:
            shard = await control.fetchval(
                "SELECT shard FROM control.organizations WHERE id = $1", UUID(str(org_id))
            )
        assert shard is not None, f"no organization {org_id}"
        async with owner_db(settings, shard) as conn:
            rows: list[asyncpg.Record] = await conn.fetch(query, *args)
        return rows

    return run_async(run)


def stored_rows(
    settings: Settings, org_id: str | UUID, device_id: str | UUID
) -> list[asyncpg.Record]:
    """Every stored telemetry row of a device, read straight from the tenant's table."""
    return fetch(
        settings,
        org_id,
        f"SELECT * FROM {telemetry_table(org_id)} WHERE device_id = $1 ORDER BY seq, ts",
        UUID(str(device_id)),
    )
