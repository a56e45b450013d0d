"""Erasing an organization and proving it: counts what is about to go, deletes, sweeps the
files, cache keys and retained broker messages that belong to it, then scans every place its
data could remain — its schema and role, every control table with an `org_id`, the broker's
credentials and retained messages, Redis, the data directory — and records a deletion receipt
that outlives the organization.

The sweep runs after the deletion has committed, so none of its steps may prevent the receipt:
a step that fails is logged, and the verification that follows reports what it left behind
(or that a place could not be checked) instead of claiming a clean result."""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import paho.mqtt.client as mqtt
import redis.asyncio as redis
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from sentinel.api.resources import Resources
from sentinel.broker.probe import BrokerEndpoint
from sentinel.broker.sync import BrokerCredentialSync
from sentinel.db.pools import DEFAULT_SHARD
from sentinel.db.tenancy import Tenant, tenant_schema
from sentinel.logging import get_logger
from sentinel.privacy import queries

log = get_logger(__name__)
UNREADABLE = "unreadable from the API host"
UNREACHABLE = "unreachable"
BROKER_TIMEOUT = 5.0
# Devices still connected when their credentials go are cut off by the broker's reload, which
# then publishes their (retained) Last Will: retained messages are cleared again after this.
WILL_SETTLE_SECONDS = 0.5
DEVICE_KEY = re.compile(r"device:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


def org_files(res: Resources, org_id: UUID) -> list[Path]:
    root = res.settings.root
    return [root / "exports" / str(org_id), root / "simulator" / f"{org_id}.json"]


async def inventory_before(res: Resources, tenant: Tenant) -> dict[str, int]:
    async with res.router.transaction(tenant) as conn:
        counts = await queries.tenant_counts(conn)
    async with res.pool.acquire() as conn:
        counts["members"] = await queries.member_count(conn, tenant.org_id)
    return counts


async def _keys(res: Resources, org_id: UUID) -> list[str]:
    """Redis keys of the organization: those naming it, and those naming one of its devices.
    The second kind (the API rate limit counts device requests under `device:<id>`) does not
    carry the organization's id; after the deletion its devices have no credential left, so
    every key naming a device without a credential is one of them (or of another device that
    was just deleted — equally nobody's any more)."""
    keys = [_text(k) async for k in res.redis.scan_iter(match=f"*{org_id}*", count=500)]
    named: dict[str, UUID] = {}
    async for raw in res.redis.scan_iter(match="*device:*", count=500):
        key = _text(raw)
        if match := DEVICE_KEY.search(key):
            named[key] = UUID(match[1])
    if named:
        async with res.pool.acquire() as conn:
            known = await queries.known_devices(conn, sorted(set(named.values())))
        keys += [key for key, device_id in named.items() if device_id not in known]
    return sorted(set(keys))


def _text(key: bytes | str) -> str:
    return key.decode(errors="replace") if isinstance(key, bytes) else key


def retained_messages(endpoint: BrokerEndpoint, org_id: UUID, clear: bool = False) -> list[str]:
    """Topics of the organization that hold a retained message (the agent's online/offline
    status, a will); with `clear`, each is cleared. Blocking: run it in a thread.

    Retained messages come right after the SUBACK, before anything published later on the same
    subscription, so a marker published after the SUBACK arrives once all of them have."""
    prefix = f"sentinel/{org_id}/"
    marker = f"{prefix}erasure/{uuid.uuid4().hex}"
    found: set[str] = set()
    subscribed, complete = threading.Event(), threading.Event()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"sentinel-erasure-{secrets.token_hex(6)}",
        protocol=mqtt.MQTTv311,
    )
    client.username_pw_set(endpoint.username, endpoint.password)

    def on_connect(c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        if not rc.is_failure:
            c.subscribe(f"{prefix}#", 1)

    def on_subscribe(*_: object) -> None:
        subscribed.set()

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        if message.topic == marker:
            complete.set()
        elif message.retain and message.payload:
            found.add(message.topic)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(endpoint.host, endpoint.port, keepalive=30)
    client.loop_start()
    try:
        if not subscribed.wait(BROKER_TIMEOUT):
            raise TimeoutError("no SUBACK from the broker")
        client.publish(marker, b"", qos=1)
        if not complete.wait(BROKER_TIMEOUT):
            raise TimeoutError("the retained messages were not all delivered")
        if clear:
            for topic in sorted(found):
                client.publish(topic, b"", qos=1, retain=True).wait_for_publish(BROKER_TIMEOUT)
    finally:
        client.disconnect()
        client.loop_stop()
    return sorted(found)


async def sweep(res: Resources, org_id: UUID) -> None:
    """Remove what lives outside the database. Never raises: see the module docstring."""
    for path in org_files(res, org_id):
        try:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            log.error("erasure: file not removed", path=str(path), error=exc.__class__.__name__)
    try:
        for key in await _keys(res, org_id):
            await res.redis.delete(key)
    except (redis.RedisError, asyncpg.PostgresError, OSError) as exc:
        log.error("erasure: cache keys not removed", error=exc.__class__.__name__)
    # Push the credential change to the broker now rather than waiting for the worker: its
    # reload cuts off any device of the organization that is still connected.
    try:
        await BrokerCredentialSync(res.settings, await res.app_pools.get(DEFAULT_SHARD)).reconcile()
    except (asyncpg.PostgresError, OSError) as exc:
        log.error("erasure: broker credentials not reconciled", error=exc.__class__.__name__)
    try:
        await asyncio.to_thread(retained_messages, res.broker, org_id, True)
        await asyncio.sleep(WILL_SETTLE_SECONDS)
        await asyncio.to_thread(retained_messages, res.broker, org_id, True)
    except (OSError, TimeoutError, RuntimeError, ValueError) as exc:
        log.error("erasure: retained messages not cleared", error=exc.__class__.__name__)


async def verify(
    res: Resources,
    org_id: UUID,
    owner_conn: asyncpg.Connection,
    shard_conn: asyncpg.Connection | None = None,
) -> dict[str, Any]:
    """Everything that would show the organization still exists; all must be empty/false.
    A place that could not be checked is reported as such (and is not clean)."""
    schema = tenant_schema(org_id)
    found: dict[str, Any] = {
        # The schema and role lived on the tenant's shard (the control shard by default).
        "schema": await queries.schema_exists(shard_conn or owner_conn, schema),
        "role": await queries.role_exists(shard_conn or owner_conn, schema),
        "control_rows": await queries.control_rows(owner_conn, org_id),
        "files": [str(p) for p in org_files(res, org_id) if p.exists()],
    }
    try:
        found["redis_keys"] = await _keys(res, org_id)
    except (redis.RedisError, asyncpg.PostgresError, OSError):
        found["redis_keys"] = UNREACHABLE
    password_file = BrokerCredentialSync(res.settings, res.pool).password_file
    try:
        found["broker_credentials"] = sum(
            1 for line in password_file.read_text().splitlines() if line.startswith(f"{org_id}/")
        )
    except OSError:
        found["broker_credentials"] = UNREADABLE
    try:
        found["retained_messages"] = await asyncio.to_thread(retained_messages, res.broker, org_id)
    except (OSError, TimeoutError, RuntimeError, ValueError):
        found["retained_messages"] = UNREACHABLE
    return found


def clean(found: dict[str, Any]) -> bool:
    """Verified only if every place was checked and held nothing of the organization."""
    return (
        not found["schema"]
        and not found["role"]
        and not found["control_rows"]
        and found["redis_keys"] == []
        and not found["files"]
        and found["broker_credentials"] == 0
        and found.get("retained_messages") == []
    )


async def record_receipt(
    res: Resources,
    org_id: UUID,
    org_name: str,
    deleted_by: UUID,
    removed: dict[str, int],
    found: dict[str, Any],
) -> UUID:
    receipt_id = uuid.uuid4()
    async with res.pool.acquire() as conn:
        await queries.insert_receipt(
            conn, receipt_id, org_id, org_name, deleted_by, removed, found, clean(found)
        )
    return receipt_id
