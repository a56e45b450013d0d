"""A blocking MQTT connect check, used for readiness and health."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode


@dataclass(frozen=True)
class BrokerEndpoint:
    host: str
    port: int
    username: str | None
    password: str | None
    ca_file: str | None = None


class BrokerUnavailable(RuntimeError):
    pass


def probe_broker(endpoint: BrokerEndpoint, timeout: float = 3.0) -> None:
    """Connect, wait for CONNACK, disconnect; raise BrokerUnavailable with the reason otherwise."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"sentinel-probe-{secrets.token_hex(6)}",
        protocol=mqtt.MQTTv311,
    )
    if endpoint.username is not None:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.ca_file is not None:
        client.tls_set(ca_certs=endpoint.ca_file)
    outcome: dict[str, ReasonCode] = {}

    def on_connect(_c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        outcome["rc"] = rc

    client.on_connect = on_connect
    try:
        client.connect(endpoint.host, endpoint.port, keepalive=10)
        deadline = time.monotonic() + timeout
        while "rc" not in outcome and time.monotonic() < deadline:
            client.loop(timeout=0.05)
    except OSError as exc:
        raise BrokerUnavailable(f"cannot reach broker: {exc.__class__.__name__}") from exc
    finally:
        client.disconnect()
    if "rc" not in outcome:
        raise BrokerUnavailable("no CONNACK from broker")
    if outcome["rc"].is_failure:
        raise BrokerUnavailable(f"broker refused connection: {outcome['rc']}")
