"""The broker: TLS only on the device port, per-listener credentials, no anonymous access."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator

import httpx
import pytest

from sentinel.broker.passwords import mosquitto_hash, verify_mosquitto_hash
from sentinel.broker.probe import BrokerEndpoint, BrokerUnavailable, probe_broker
from sentinel.stack.launcher import Stack
from sentinel.stack.mosquitto import SERVICE_USERNAME
from sentinel.stack.secrets import Secrets
from tests.fleet import enroll, enrollment_token
from tests.harness import tls_handshake, trust
from tests.people import create_org, signup


@pytest.fixture(scope="module")
def device_credential(stack: Stack, https_module: httpx.Client) -> tuple[str, str]:
    """A real device credential, made by enrollment (the worker loads it into the broker)."""
    owner = signup(https_module)
    org = create_org(https_module, owner)
    enrolled = enroll(https_module, enrollment_token(https_module, owner, org["id"]))
    deadline = time.monotonic() + 10
    endpoint = _tls(stack, enrolled.username, enrolled.token)
    while True:  # the credential sync is asynchronous: wait until the broker knows the device
        try:
            probe_broker(endpoint)
            break
        except BrokerUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return enrolled.username, enrolled.token


@pytest.fixture(scope="module")
def https_module(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=stack.settings.public_url, verify=trust(stack.settings), timeout=15
    ) as client:
        yield client


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
