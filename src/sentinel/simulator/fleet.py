"""Many virtual agents driven by one thread: paho clients on an external event loop
(selectors), each with its own credential, TLS connection, in-memory spool and receipts.

Each virtual device samples every `interval` seconds into its spool, publishes what is due
when connected, forgets what receipts cover, and now and then goes offline for a while —
sampling on into its spool and replaying after it reconnects, exactly like the real agent.
"""

from __future__ import annotations

import contextlib
import json
import random
import selectors
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from sentinel_agent.spool import Spool

from sentinel.ingest.receipts import expand
from sentinel.logging import get_logger
from sentinel.simulator.curves import DeviceModel
from sentinel.simulator.enrollment import SimulatedCredential

log = get_logger(__name__)
BATCH = 100
RESEND_AFTER = 15.0
# A paho connect (TCP + TLS handshake) blocks this one thread; spend at most this long per
# pass connecting, so that a large fleet keeps sampling on schedule while it (re)connects.
CONNECT_BUDGET_S = 0.2


@dataclass
class FleetStats:
    sampled: int = 0
    receipted: int = 0
    connects: int = 0
    outages: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "sampled": self.sampled,
            "receipted": self.receipted,
            "connects": self.connects,
            "outages": self.outages,
        }


@dataclass
class VirtualDevice:
    credential: SimulatedCredential
    model: DeviceModel
    client: mqtt.Client
    spool: Spool
    prefix: str
    next_sample: float
    connected: bool = False
    offline_until: float = 0.0
    next_attempt: float = 0.0
    backoff: float = 1.0
    sock: Any = None
    inventory_sent: bool = False


class Fleet:
    def __init__(
        self,
        credentials: list[SimulatedCredential],
        host: str,
        port: int,
        ca_file: str,
        interval: float,
        outage_rate: float = 0.002,
        seed: int = 7,
    ) -> None:
        self.host, self.port, self.interval = host, port, interval
        self.outage_rate = outage_rate  # chance per device per sample of going offline
        self.rng = random.Random(seed)  # noqa: S311 - simulation only
        self.stats = FleetStats()
        self.selector = selectors.DefaultSelector()
        self.stop = threading.Event()
        self._connect_until = 0.0
        self.context = ssl.create_default_context(cafile=ca_file)
        now = time.monotonic()
        self.devices = [self._device(c, now + self.rng.uniform(0, interval)) for c in credentials]

    def _device(self, credential: SimulatedCredential, first: float) -> VirtualDevice:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=credential.username, protocol=mqtt.MQTTv311
        )
        client.username_pw_set(credential.username, credential.token)
        client.tls_set_context(self.context)
        prefix = f"sentinel/{credential.username}"
        client.will_set(f"{prefix}/status", json.dumps({"v": 1, "state": "offline"}), 1, True)
        device = VirtualDevice(
            credential,
            DeviceModel.create(credential.index),
            client,
            Spool(":memory:", first_seq=credential.next_seq),
            prefix,
            first,
        )
        client.on_connect = lambda c, _u, _f, rc, _p: self._on_connect(device, rc)
        client.on_message = lambda _c, _u, msg: self._on_message(device, msg)
        return device

    # --- callbacks (run inside loop_read on this thread) -----------------------------------

    def _on_connect(self, device: VirtualDevice, rc: ReasonCode) -> None:
        if rc.is_failure:
            return
        device.connected = True
        device.backoff = 1.0
        self.stats.connects += 1
        device.client.subscribe(f"{device.prefix}/receipts", 1)
        device.client.publish(
            f"{device.prefix}/status",
            json.dumps({"v": 1, "state": "online", "agent_version": "sim"}),
            qos=1,
            retain=True,
        )
        if not device.inventory_sent:  # once per run, like the agent at start
            device.client.publish(
                f"{device.prefix}/inventory",
                json.dumps({"v": 1, **device.model.inventory(device.credential.index)}),
                qos=1,
            )
            device.inventory_sent = True
        device.spool.reset_sent()

    def _on_message(self, device: VirtualDevice, message: mqtt.MQTTMessage) -> None:
        try:
            receipt = json.loads(message.payload)
            seqs = expand(receipt.get("stored", [])) + expand(receipt.get("rejected", []))
        except (ValueError, TypeError, AttributeError):
            return
        self.stats.receipted += device.spool.acknowledge(seqs)

    # --- connection handling ------------------------------------------------------------------

    def _connect(self, device: VirtualDevice, now: float) -> None:
        try:
            device.client.connect(self.host, self.port, keepalive=60)
        except OSError:
            device.next_attempt = now + device.backoff + self.rng.uniform(0, device.backoff)
            device.backoff = min(device.backoff * 2, 60)
            return
        device.sock = device.client.socket()
        if device.sock is not None:
            self.selector.register(device.sock, selectors.EVENT_READ, device)

    def _drop(self, device: VirtualDevice, now: float, clean: bool) -> None:
        if device.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(device.sock)
            device.sock = None
        if clean and device.connected:
            device.client.publish(
                f"{device.prefix}/status",
                json.dumps({"v": 1, "state": "offline"}),
                qos=1,
                retain=True,
            )
            device.client.loop_write()
            device.client.disconnect()
            device.client.loop_write()
        else:
            device.client.disconnect()
        device.connected = False
        device.next_attempt = now + device.backoff

    # --- the loop --------------------------------------------------------------------------------

    def run(self, duration: float | None = None, drain_seconds: float = 30.0) -> FleetStats:
        start = time.monotonic()
        last_misc = start
        sampling_until = start + duration if duration is not None else float("inf")
        drain_deadline: float | None = None
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= sampling_until and drain_deadline is None:
                drain_deadline = now + drain_seconds
            if drain_deadline is not None and (now >= drain_deadline or self.pending() == 0):
                break
            for key, _ in self.selector.select(timeout=0.05):
                ready: VirtualDevice = key.data
                if ready.client.loop_read() != mqtt.MQTT_ERR_SUCCESS:
                    self._drop(ready, now, clean=False)
            self._connect_until = time.monotonic() + CONNECT_BUDGET_S
            for device in self.devices:
                self._tick(device, now, sampling=drain_deadline is None)
            if now - last_misc >= 1.0:
                last_misc = now
                for device in self.devices:
                    if device.client.socket() is not None:
                        device.client.loop_misc()
        for device in self.devices:
            self._drop(device, time.monotonic(), clean=True)
        return self.stats

    def _tick(self, device: VirtualDevice, now: float, sampling: bool) -> None:
        if sampling and now >= device.next_sample:
            device.next_sample += self.interval
            device.spool.append(device.model.sample(datetime.now(), self.interval))
            self.stats.sampled += 1
            if device.connected and self.rng.random() < self.outage_rate:
                device.offline_until = now + self.rng.uniform(30, 120)
                self.stats.outages += 1
                self._drop(device, now, clean=self.rng.random() < 0.5)
        if not device.connected and device.client.socket() is None:
            # While draining, outages end: every device comes back to deliver its spool.
            if (
                now >= device.next_attempt
                and (now >= device.offline_until or not sampling)
                and time.monotonic() < self._connect_until
            ):
                self._connect(device, now)
            return
        if device.connected:
            due = device.spool.due(BATCH, RESEND_AFTER)
            if due:
                device.client.publish(
                    f"{device.prefix}/telemetry", json.dumps({"v": 1, "samples": due}), qos=1
                )
                device.spool.mark_sent(s["seq"] for s in due)
        if device.client.want_write():
            device.client.loop_write()

    def pending(self) -> int:
        return sum(d.spool.pending() for d in self.devices)

    def close(self) -> None:
        for device in self.devices:
            device.spool.close()
        self.selector.close()


def summary(stats: FleetStats, pending: int) -> dict[str, Any]:
    return {**stats.as_dict(), "pending": pending}
