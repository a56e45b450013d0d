"""The running agent: sample on a timer into the spool, send what is due over MQTTS, forget
what receipts cover, answer commands, and report inventory at start, daily and on change.

Connection: MQTT over TLS trusting only the CA received at enrollment; a retained `online`
status on connect and a retained `offline` Last Will; paho's exponential reconnect backoff
with a per-agent random base (jitter across a fleet). A refused login makes the agent ask
the server over HTTPS: if its token is revoked it stops with a clear message (exit code 3)
instead of hammering the broker.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from sentinel_agent import __version__
from sentinel_agent.collectors import Collector, inventory
from sentinel_agent.commands import OS_ACTIONS, CommandRunner, SystemActions
from sentinel_agent.spool import Spool
from sentinel_agent.state import AgentHome

log = logging.getLogger("sentinel_agent")
BATCH = 100
RESEND_AFTER = 30.0
CONFIG_REFRESH = 300.0
CONFIG_RETRY = 20.0  # after a failed fetch (e.g. booted before the network was up)
INVENTORY_EVERY = 24 * 3600.0
EXIT_REVOKED = 3
EXIT_RESTART = 75
# The broker cuts off a client that sends a packet over 256 KiB; a machine with thousands of
# packages would otherwise lose its connection on every inventory and never deliver one.
MAX_INVENTORY_BYTES = 200_000


class Revoked(RuntimeError):
    pass


def expand(spans: list[list[int]]) -> list[int]:
    return [seq for first, last in spans for seq in range(int(first), int(last) + 1)]


def inventory_payload(data: dict[str, Any], limit: int = MAX_INVENTORY_BYTES) -> str:
    """The inventory message, with the software list shortened until it fits in `limit`."""
    software = list(data.get("software") or [])
    payload = json.dumps({"v": 1, **data}, default=str)
    while len(payload.encode()) > limit and software:
        software = software[: len(software) // 2]
        payload = json.dumps({"v": 1, **data, "software": software}, default=str)
    return payload


class Agent:
    def __init__(
        self,
        home: AgentHome,
        actions: SystemActions = OS_ACTIONS,
        collector: Collector | None = None,
    ) -> None:
        self.home = home
        self.enrollment, self.token = home.load()
        self.spool = Spool(home.spool_file)
        self.commands = CommandRunner(home.commands_file, actions)
        self.collector = collector or Collector()
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        self.exit_code = 0
        self.policy: dict[str, Any] = {
            "telemetry_interval_s": 60,
            "collect_user_names": False,
            "collect_ip_addresses": False,
        }
        self.inventory_due = threading.Event()
        self.inventory_due.set()
        self._inventory_hash = ""
        self._connected = threading.Event()
        self.client = self._mqtt_client()

    # --- HTTPS ---------------------------------------------------------------------------

    def _https(self) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.home.ca_file))
        return httpx.Client(
            base_url=self.enrollment.server,
            verify=context,
            timeout=15,
            headers={"Authorization": f"Bearer {self.token}"},
        )

    def refresh_config(self) -> bool:
        """Fetch the organization's settings; raises Revoked when the token is no longer valid.
        Returns whether the settings are fresh."""
        try:
            with self._https() as client:
                response = client.get("/api/v1/agent/config")
        except httpx.HTTPError as exc:
            log.warning("could not fetch configuration: %s", exc.__class__.__name__)
            return False
        if response.status_code == 401:
            raise Revoked("this device's token was revoked or the device was removed")
        if response.status_code != 200:
            log.warning("could not fetch configuration: HTTP %s", response.status_code)
            return False
        self.policy.update(response.json())
        return True

    # --- MQTT ------------------------------------------------------------------------------

    def _topic(self, kind: str) -> str:
        return f"{self.enrollment.topic_prefix}/{kind}"

    def _mqtt_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.enrollment.mqtt_username,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        client.username_pw_set(self.enrollment.mqtt_username, self.token)
        client.tls_set(ca_certs=str(self.home.ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.will_set(
            self._topic("status"), json.dumps({"v": 1, "state": "offline"}), qos=1, retain=True
        )
        # Capped at a minute so devices catch up soon after an outage; the random base spreads
        # a fleet's reconnects.
        client.reconnect_delay_set(random.randint(1, 3), 60)  # noqa: S311 - jitter only
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object
    ) -> None:
        if rc.is_failure:
            log.warning("broker refused the connection: %s", rc)
            if rc.value in (4, 5, 134, 135):  # bad credentials / not authorized
                self._check_revoked()
            return
        client.subscribe([(self._topic("receipts"), 1), (self._topic("commands"), 1)])
        client.publish(
            self._topic("status"),
            json.dumps({"v": 1, "state": "online", "agent_version": __version__}),
            qos=1,
            retain=True,
        )
        self.spool.reset_sent()
        self._connected.set()
        self.wake.set()
        log.info("connected to %s:%s", self.enrollment.mqtt_host, self.enrollment.mqtt_port)

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object
    ) -> None:
        self._connected.clear()
        if not self.stop_event.is_set():
            log.warning("disconnected from the broker (%s); will reconnect", rc)
            threading.Thread(target=self._check_revoked, daemon=True).start()

    def _check_revoked(self) -> None:
        try:
            self.refresh_config()
        except Revoked as exc:
            log.error("%s; stopping. Re-enroll with `sentinel-agent enroll`.", exc)
            self.exit_code = EXIT_REVOKED
            self.stop_event.set()
            self.wake.set()

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        # An exception escaping a paho callback ends paho's network thread: the agent would
        # go on sampling but never send, receive or reconnect again.
        try:
            self._handle_message(message)
        except Exception:
            log.exception("could not handle a message on %s", message.topic)

    def _handle_message(self, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/receipts"):
            try:
                receipt = json.loads(message.payload)
                seqs = expand(receipt.get("stored", [])) + expand(receipt.get("rejected", []))
            except (ValueError, TypeError, AttributeError, RecursionError):
                log.warning("ignored a malformed receipt")
                return
            self.spool.acknowledge(seqs)
        elif message.topic.endswith("/commands"):
            result = self.commands.handle(
                bytes(message.payload), self.policy, self.inventory_due.set, self._restart
            )
            if result is not None:
                self.client.publish(self._topic("commands/result"), json.dumps(result), qos=1)

    def _restart(self) -> None:
        self.exit_code = EXIT_RESTART
        self.stop_event.set()
        self.wake.set()

    # --- loops -------------------------------------------------------------------------------

    def sample_once(self) -> int:
        sample = self.collector.sample(bool(self.policy.get("collect_user_names")))
        dropped = self.spool.take_unreported_drops()
        if dropped:
            sample["spool_dropped"] = dropped
        return self.spool.append(sample)

    def send_due(self) -> int:
        if not self._connected.is_set():
            return 0
        sent = 0
        while True:
            due = self.spool.due(BATCH, RESEND_AFTER)
            if not due:
                return sent
            info = self.client.publish(
                self._topic("telemetry"), json.dumps({"v": 1, "samples": due}), qos=1
            )
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return sent
            self.spool.mark_sent(s["seq"] for s in due)
            sent += len(due)

    def send_inventory(self) -> None:
        data = inventory(bool(self.policy.get("collect_ip_addresses", False)))
        digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
        if digest == self._inventory_hash and not self.inventory_due.is_set():
            return
        payload = inventory_payload(data)
        info = self.client.publish(self._topic("inventory"), payload, qos=1)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self._inventory_hash = digest
            self.inventory_due.clear()

    def run(self, clock: Callable[[], float] = time.monotonic) -> int:
        fresh = self.refresh_config()  # raises Revoked before touching the broker
        self.client.connect_async(
            self.enrollment.mqtt_host, self.enrollment.mqtt_port, keepalive=60
        )
        self.client.loop_start()
        next_sample = last_sample = next_inventory = clock()
        next_config = clock() + (CONFIG_REFRESH if fresh else CONFIG_RETRY)
        try:
            while not self.stop_event.is_set():
                now = clock()
                if now >= next_sample:
                    self.sample_once()
                    last_sample = now
                    next_sample = now + self.interval()
                if now >= next_config:
                    fresh = False
                    try:
                        fresh = self.refresh_config()
                    except Revoked:
                        self._check_revoked()
                    next_config = now + (CONFIG_REFRESH if fresh else CONFIG_RETRY)
                    # A shorter interval applies now, not after the old one has run out.
                    next_sample = min(next_sample, last_sample + self.interval())
                if self._connected.is_set() and (
                    self.inventory_due.is_set() or now >= next_inventory
                ):
                    self.send_inventory()
                    next_inventory = now + INVENTORY_EVERY
                self.send_due()
                self.wake.wait(timeout=max(0.05, min(next_sample - clock(), 1.0)))
                self.wake.clear()
        finally:
            self.shutdown()
        return self.exit_code

    def interval(self) -> float:
        return max(1.0, float(self.policy["telemetry_interval_s"]))

    def shutdown(self) -> None:
        self.stop_event.set()
        if self._connected.is_set():
            info = self.client.publish(
                self._topic("status"), json.dumps({"v": 1, "state": "offline"}), qos=1, retain=True
            )
            info.wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()
        self.spool.close()
        self.commands.close()
