"""Test helpers for devices: enrollment through the public API and an MQTT device client
that speaks the v1 protocol over TLS (telemetry, status, receipts)."""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from sentinel.config import Settings
from sentinel.ingest.receipts import expand
from tests.people import User


@dataclass(frozen=True)
class Enrollment:
    org_id: str
    device_id: str
    token: str
    username: str

    @property
    def prefix(self) -> str:
        return f"sentinel/{self.username}"


def enrollment_token(https: httpx.Client, owner: User, org_id: str, **fields: Any) -> str:
    body = {"label": f"lab-{secrets.token_hex(3)}", "max_uses": 100, **fields}
    response = https.post(
        f"/api/v1/orgs/{org_id}/enrollment-tokens", json=body, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def enroll(https: httpx.Client, token: str, hostname: str | None = None) -> Enrollment:
    response = https.post(
        "/api/v1/agent/enroll",
        json={"token": token, "hostname": hostname or f"pc-{secrets.token_hex(3)}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return Enrollment(
        body["org_id"], body["device_id"], body["device_token"], body["mqtt"]["username"]
    )


@dataclass
class DeviceClient:
    """A device on the MQTTS port. Connects with its credential, subscribes to its receipts."""

    settings: Settings
    enrollment: Enrollment
    client_id: str | None = None
    password: str | None = None
    receipts: list[dict[str, Any]] = field(default_factory=list)
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    connect_results: list[ReasonCode] = field(default_factory=list)
    disconnects: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id or self.enrollment.username,
            protocol=mqtt.MQTTv311,
        )
        self.client.username_pw_set(
            self.enrollment.username, self.password or self.enrollment.token
        )
        self.client.tls_set(ca_certs=str(self.settings.ca_cert_path))
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object
    ) -> None:
        self.connect_results.append(rc)
        if not rc.is_failure:
            client.subscribe(f"{self.enrollment.prefix}/receipts", 1)

    def _on_disconnect(self, *_: object) -> None:
        self.disconnects += 1

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((message.topic, bytes(message.payload)))
            if message.topic.endswith("/receipts"):
                # A malformed receipt must not kill paho's thread; the test's asserts see it.
                with contextlib.suppress(ValueError):
                    self.receipts.append(json.loads(message.payload))

    def connect(self, timeout: float = 10.0) -> None:
        """Connect, retrying while the broker has not yet loaded a fresh credential."""
        deadline = time.monotonic() + timeout
        self.client.connect("localhost", self.settings.mqtts_port, keepalive=30)
        self.client.loop_start()
        while time.monotonic() < deadline:
            if self.client.is_connected():
                time.sleep(0.1)  # let the receipts subscription land
                return
            time.sleep(0.05)
        raise TimeoutError(f"device could not connect: {self.connect_results[-3:]}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, kind: str, payload: dict[str, Any] | bytes, retain: bool = False) -> None:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        info = self.client.publish(f"{self.enrollment.prefix}/{kind}", raw, qos=1, retain=retain)
        info.wait_for_publish(5)

    def send_samples(self, seqs: range | list[int], **metrics: Any) -> None:
        now = time.time()
        samples = [
            {"seq": s, "ts": now - 0.001 * (len(seqs) - i), **metrics} for i, s in enumerate(seqs)
        ]
        self.publish("telemetry", {"v": 1, "samples": samples})

    def stored_seqs(self) -> set[int]:
        with self.lock:
            return {seq for r in self.receipts for seq in expand(r["stored"])}

    def wait_receipts(self, seqs: set[int], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if seqs <= self.stored_seqs():
                return
            time.sleep(0.05)
        raise TimeoutError(f"missing receipts for {sorted(seqs - self.stored_seqs())[:10]}")
