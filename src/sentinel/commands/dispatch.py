"""The worker side of commands: publish queued commands to online devices (QoS 1), expire old
ones. Woken by NOTIFY when a command is created, and by a periodic sweep (devices that come
back online get what was queued for them)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from sentinel.broker.probe import BrokerEndpoint
from sentinel.commands import queries
from sentinel.commands.service import NOTIFY_CHANNEL
from sentinel.db.pools import ShardPools
from sentinel.db.tenancy import Tenant, TenantRouter
from sentinel.logging import get_logger
from sentinel.worker.maintenance import all_tenants

log = get_logger(__name__)
SWEEP_SECONDS = 5.0


class CommandPublisher:
    def __init__(self, endpoint: BrokerEndpoint) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"sentinel-worker-{secrets.token_hex(4)}",
            protocol=mqtt.MQTTv311,
        )
        self.client.username_pw_set(endpoint.username, endpoint.password)
        self.client.reconnect_delay_set(1, 10)
        self.client.connect_async(endpoint.host, endpoint.port, keepalive=30)
        self.client.loop_start()

    def publish(self, topic: str, payload: str) -> bool:
        if not self.client.is_connected():
            return False
        return self.client.publish(topic, payload, qos=1).rc == mqtt.MQTT_ERR_SUCCESS

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def dispatch_tenant(
    router: TenantRouter, tenant: Tenant, publish: Callable[[str, str], bool]
) -> int:
    async with router.transaction(tenant) as conn:
        await queries.expire(conn)
        rows = await queries.dispatchable(conn)
        sent = []
        for row in rows:
            payload = json.dumps(
                {
                    "v": 1,
                    "id": str(row["id"]),
                    "name": row["name"],
                    "args": row["args"],
                    "expires_at": row["expires_at"].timestamp(),
                }
            )
            topic = f"sentinel/{tenant.org_id}/devices/{row['device_id']}/commands"
            if publish(topic, payload):
                sent.append(row["id"])
        if sent:
            await queries.mark_sent(conn, sent)
    return len(sent)


async def run_dispatcher(
    pools: ShardPools, router: TenantRouter, endpoint: BrokerEndpoint, stop: asyncio.Event
) -> None:
    publisher = CommandPublisher(endpoint)
    wake = asyncio.Event()

    def on_notify(*_: object) -> None:
        wake.set()

    listener = await (await pools.control()).acquire()
    await listener.add_listener(NOTIFY_CHANNEL, on_notify)
    try:
        while not stop.is_set():
            try:
                for tenant in await all_tenants(pools):
                    await dispatch_tenant(router, tenant, publisher.publish)
            except Exception as exc:
                log.error("command dispatch failed", error=exc.__class__.__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), SWEEP_SECONDS)
            wake.clear()
    finally:
        with contextlib.suppress(Exception):
            await listener.remove_listener(NOTIFY_CHANNEL, on_notify)
        await (await pools.control()).release(listener)
        publisher.close()
