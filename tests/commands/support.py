"""Helpers of the command tests: the command API, and Sentinel's own MQTT credential on the
loopback listener, which may publish on any device's `commands` topic and watch its
`commands/result` (what the worker and ingest do, minus their rules)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from sentinel.stack.launcher import Stack
from tests.agent.support import AgentOrg, wait_for

FINAL = frozenset({"done", "failed", "rejected", "expired"})


def create_command(
    https: httpx.Client, org: AgentOrg, device_id: str, name: str, **body: Any
) -> httpx.Response:
    return https.post(
        org.path(f"/devices/{device_id}/commands"),
        json={"name": name, **body},
        headers=org.owner.headers,
    )


def list_commands(https: httpx.Client, org: AgentOrg, device_id: str) -> list[dict[str, Any]]:
    response = https.get(org.path(f"/devices/{device_id}/commands"), headers=org.owner.headers)
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


def command_row(
    https: httpx.Client, org: AgentOrg, device_id: str, command_id: str
) -> dict[str, Any]:
    rows = [c for c in list_commands(https, org, device_id) if c["id"] == command_id]
    assert len(rows) == 1, rows
    return rows[0]


def wait_final(
    https: httpx.Client, org: AgentOrg, device_id: str, command_id: str, timeout: float = 30
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        row = command_row(https, org, device_id, command_id)
        return row if row["status"] in FINAL else None

    return wait_for(probe, timeout, interval=0.25, what=f"command {command_id} to finish")


class ServiceMqtt:
    """The service credential: publishes commands, collects results from one device."""

    def __init__(self, stack: Stack, prefix: str) -> None:
        self.prefix = prefix
        self.results: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.disconnects = 0
        endpoint = stack.mosquitto.service_endpoint()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-commands-{secrets.token_hex(4)}",
            protocol=mqtt.MQTTv311,
        )
        self.client.username_pw_set(endpoint.username, endpoint.password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.connect(endpoint.host, endpoint.port, keepalive=30)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            self.close()
            raise TimeoutError("the service client could not subscribe")

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object
    ) -> None:
        if not rc.is_failure:
            client.subscribe(f"{self.prefix}/commands/result", 1)

    def _on_disconnect(self, *_: object) -> None:
        self.disconnects += 1

    def _on_subscribe(self, *_: object) -> None:
        self.subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.results.append(json.loads(message.payload))

    def send(self, payload: bytes | dict[str, Any]) -> None:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.client.publish(f"{self.prefix}/commands", raw, qos=1).wait_for_publish(5)

    def wait_results(self, count: int, timeout: float = 15) -> list[dict[str, Any]]:
        def probe() -> list[dict[str, Any]] | None:
            with self.lock:
                return list(self.results) if len(self.results) >= count else None

        return wait_for(probe, timeout, interval=0.1, what=f"{count} command results")

    def settle(self, seconds: float) -> list[dict[str, Any]]:
        time.sleep(seconds)
        with self.lock:
            return list(self.results)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
