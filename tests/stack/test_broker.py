"""The broker: TLS only on the device port, per-listener credentials, no anonymous access."""

from __future__ import annotations

import secrets
import ssl
import time

import pytest

from sentinel.broker.passwords import (
    mosquitto_hash,
    reload_broker,
    verify_mosquitto_hash,
    write_password_file,
)
from sentinel.broker.probe import BrokerEndpoint, BrokerUnavailable, probe_broker
from sentinel.stack.launcher import Stack
from sentinel.stack.mosquitto import SERVICE_USERNAME
from sentinel.stack.secrets import Secrets
from tests.harness import tls_handshake


@pytest.fixture(scope="module")
def device_credential(stack: Stack) -> tuple[str, str]:
    username = f"{secrets.token_hex(16)}/devices/{secrets.token_hex(16)}"
    token = secrets.token_urlsafe(32)
    write_password_file(
        stack.mosquitto.device_password_file,
        {username: mosquitto_hash(token)},
        owner=stack.mosquitto.user,
    )
    assert stack.mosquitto.process is not None
    reload_broker(stack.mosquitto.process.pid)
    deadline = time.monotonic() + 5
    endpoint = _tls(stack, username, token)
    while True:  # the reload is asynchronous: wait until the broker knows the device
        try:
            probe_broker(endpoint)
            break
        except BrokerUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return username, token


def _tls(stack: Stack, username: str | None, password: str | None) -> BrokerEndpoint:
    return BrokerEndpoint(
        "localhost", stack.settings.mqtts_port, username, password, str(stack.settings.ca_cert_path)
    )


def test_hash_format_matches_mosquitto() -> None:
    hashed = mosquitto_hash("s3cret-token", iterations=101, salt=b"0123456789ab")
    assert hashed.startswith("$7$101$")
    assert verify_mosquitto_hash("s3cret-token", hashed)
    assert not verify_mosquitto_hash("other", hashed)


def test_tls_client_with_valid_credential_connects(
    stack: Stack, device_credential: tuple[str, str]
) -> None:
    probe_broker(_tls(stack, *device_credential))


def test_wrong_password_is_refused(stack: Stack, device_credential: tuple[str, str]) -> None:
    username, _ = device_credential
    with pytest.raises(BrokerUnavailable, match="refused"):
        probe_broker(_tls(stack, username, "not-the-token"))


def test_anonymous_is_refused_on_both_listeners(stack: Stack) -> None:
    with pytest.raises(BrokerUnavailable, match="refused"):
        probe_broker(_tls(stack, None, None))
    with pytest.raises(BrokerUnavailable, match="refused"):
        probe_broker(BrokerEndpoint("127.0.0.1", stack.settings.mqtt_internal_port, None, None))


def test_plain_mqtt_to_tls_port_fails(stack: Stack, device_credential: tuple[str, str]) -> None:
    with pytest.raises(BrokerUnavailable):
        probe_broker(BrokerEndpoint("127.0.0.1", stack.settings.mqtts_port, *device_credential))


def test_service_credential_is_not_accepted_on_device_port(stack: Stack, secrets: Secrets) -> None:
    probe_broker(stack.mosquitto.service_endpoint())
    with pytest.raises(BrokerUnavailable, match="refused"):
        probe_broker(_tls(stack, SERVICE_USERNAME, secrets.mqtt_service_password))


def test_device_port_requires_tls_1_2(stack: Stack) -> None:
    assert (
        tls_handshake(stack.settings, stack.settings.mqtts_port, ssl.TLSVersion.TLSv1_2)
        == "TLSv1.2"
    )
    with pytest.raises(ssl.SSLError):
        tls_handshake(stack.settings, stack.settings.mqtts_port, ssl.TLSVersion.TLSv1_1)
