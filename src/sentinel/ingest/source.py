"""The broker side of ingest: a paho client with a persistent session on the loopback
listener, a shared subscription (`$share/ingest/…`) so several ingest processes split the
load, and manual acknowledgement — a message is acknowledged only after its batch is
committed, so the broker redelivers whatever a crashed ingest had not stored.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from sentinel.broker.probe import BrokerEndpoint
from sentinel.logging import get_logger

log = get_logger(__name__)
SHARE_GROUP = "ingest"
KINDS = ("telemetry", "status", "inventory", "commands/result")


@dataclass(frozen=True)
class Incoming:
    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int


class MqttSource:
    def __init__(
        self,
        endpoint: BrokerEndpoint,
        client_id: str,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[Incoming],
        shared: bool = True,
    ) -> None:
        self.loop = loop
        self.shared = shared
        self.queue = queue
        self.generation = 0
        self.connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        self.client.username_pw_set(endpoint.username, endpoint.password)
        self.client.reconnect_delay_set(1, 5)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.endpoint = endpoint

    def start(self) -> None:
        self.client.connect_async(self.endpoint.host, self.endpoint.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object
    ) -> None:
        if rc.is_failure:
            log.error("broker refused ingest", reason=str(rc))
            return
        self.generation += 1
        plain = [f"sentinel/+/devices/+/{kind}" for kind in KINDS]
        shared = [f"$share/{SHARE_GROUP}/{topic}" for topic in plain]
        # Mosquitto 2.0 does not persist shared subscriptions across a broker restart, so a
        # single ingest uses a plain one (kept in its persistent session: nothing published
        # while ingest reconnects is lost); replicas must share. Dropping the other form keeps
        # a session from receiving everything twice after the replica count changes.
        wanted, other = (shared, plain) if self.shared else (plain, shared)
        client.unsubscribe(other)
        client.subscribe([(topic, 1) for topic in wanted])
        self.connected.set()
        log.info("ingest connected to broker", generation=self.generation)

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object
    ) -> None:
        self.connected.clear()
        log.warning("ingest disconnected from broker", reason=str(rc))

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        item = Incoming(
            message.topic, bytes(message.payload), message.mid, message.qos, self.generation
        )
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def ack(self, item: Incoming) -> None:
        """Acknowledge, unless the connection it came on is gone (then it is redelivered)."""
        if item.qos > 0 and item.generation == self.generation:
            self.client.ack(item.mid, item.qos)

    def publish(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload, qos=1)
