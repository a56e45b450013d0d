"""The MQTT ACL on the real broker: a device can publish and subscribe only under
`sentinel/{its org}/devices/{itself}/#`.

Proved with paho and with the `mosquitto_pub`/`mosquitto_sub` binaries (MQTT v5, so a refused
publish comes back as reason code 135). Whatever a device attempts on a sibling device, on a
device of another organization, on `sentinel/#` or on `$SYS/#` is refused or never delivered:
a service-side observer on the loopback listener (which may read everything) and the victims,
subscribed to their own namespaces, never see it, while a control message in the device's own
namespace does arrive. Wrong passwords and anonymous clients are refused, and because the broker
uses the username as client id, presenting another device's client id cannot kick it.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from sentinel.config import Settings
from sentinel.stack.launcher import Stack
from tests.broker.mqtt import (
    NOT_AUTHORIZED,
    MosquittoSub,
    ServiceObserver,
    connack,
    connected,
    crash_with_will,
    marker,
    mosquitto_pub,
    received,
    subscribe_all,
    wait_accepted,
    wait_received,
)
from tests.devices.api import enroll_devices, enroll_one, new_school, wait_for
from tests.fleet import Enrollment
from tests.harness import trust

GRACE = 0.5  # after the control message arrived, how long a stray message gets to show up


@dataclass(frozen=True)
class Fleet:
    attacker: Enrollment
    sibling: Enrollment  # same organization as the attacker
    stranger: Enrollment  # another organization

    def foreign_topics(self) -> list[str]:
        """Topics outside the attacker's namespace, including look-alikes of it."""
        a, b, c = self.attacker, self.sibling, self.stranger
        return [
            f"{b.prefix}/telemetry",
            f"{b.prefix}/commands",
            f"{b.prefix}/status",
            f"{b.prefix}/receipts",
            b.prefix,
            f"{c.prefix}/telemetry",
            f"{c.prefix}/commands",
            f"sentinel/{c.org_id}/devices/{a.device_id}/telemetry",  # its id, the wrong org
            f"sentinel/{a.org_id}/devices/{a.device_id}x/telemetry",  # a longer id
            f"sentinel/{a.org_id}/devices/{uuid.uuid4()}/telemetry",
            f"sentinel/{a.org_id}/devices",
            f"sentinel/{a.org_id}/broadcast",
            "sentinel/x",
            "sentinel",
            "$SYS/broker/x",
        ]

    def foreign_filters(self) -> list[str]:
        b, c = self.sibling, self.stranger
        return [
            "#",
            "sentinel/#",
            "$SYS/#",
            "$SYS/broker/version",
            "sentinel/+/devices/+/commands",
            f"sentinel/{self.attacker.org_id}/#",
            f"sentinel/{self.attacker.org_id}/devices/+/telemetry",
            f"{b.prefix}/#",
            f"{c.prefix}/#",
        ]


@pytest.fixture(scope="module")
def fleet(stack: Stack) -> Iterator[Fleet]:
    """Shared by the module: every test recognises its own messages by unique payloads."""
    settings = stack.settings
    with httpx.Client(base_url=settings.public_url, verify=trust(settings), timeout=10) as https:
        attacker, sibling = enroll_devices(https, new_school(https), 2)
        yield Fleet(attacker, sibling, enroll_one(https, new_school(https)))


def _leaks(observer: ServiceObserver, payloads: dict[str, str]) -> dict[str, list[str]]:
    """Attempted topic → topics on which the observer received that attempt's payload."""
    return {t: seen for t, p in payloads.items() if (seen := observer.topics_with(p))}


def test_paho_device_cannot_publish_outside_its_namespace(
    settings: Settings, fleet: Fleet, observer: ServiceObserver
) -> None:
    with (
        connected(settings, fleet.sibling) as sibling,
        connected(settings, fleet.stranger) as stranger,
        connected(settings, fleet.attacker) as attacker,
    ):
        subscribe_all(observer, sibling, [f"{fleet.sibling.prefix}/#"])
        subscribe_all(observer, stranger, [f"{fleet.stranger.prefix}/#"])
        attempts = {topic: marker("foreign") for topic in fleet.foreign_topics()}
        for topic, payload in attempts.items():
            retain = topic.endswith("/status")  # a retained message would outlive the attempt
            attacker.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
        control = marker("own")
        attacker.publish("probe", control.encode())
        assert observer.wait_for(control) == f"{fleet.attacker.prefix}/probe"
        time.sleep(GRACE)

        assert _leaks(observer, attempts) == {}
        for victim in (sibling, stranger):
            stray = [(t, p) for t, p in received(victim) if p in attempts.values()]
            assert stray == [], f"{victim.enrollment.username} received {stray}"


def test_paho_device_receives_nothing_outside_its_namespace(
    settings: Settings, fleet: Fleet, observer: ServiceObserver
) -> None:
    with (
        connected(settings, fleet.sibling) as sibling,
        connected(settings, fleet.stranger) as stranger,
        connected(settings, fleet.attacker) as attacker,
    ):
        subscribe_all(observer, attacker, fleet.foreign_filters())
        foreign = marker("foreign")
        sibling.publish("probe", foreign.encode())
        stranger.publish("probe", foreign.encode())
        for target in (fleet.sibling, fleet.stranger):
            observer.publish(f"{target.prefix}/commands", foreign)
        observer.publish(f"sentinel/{fleet.attacker.org_id}/broadcast", foreign)
        # The messages exist: the observer receives all five.
        wait_for(lambda: len(observer.topics_with(foreign)) == 5, 5, "the foreign messages")
        control = marker("own")
        observer.publish(f"{fleet.attacker.prefix}/commands", control)
        wait_received(attacker, control)
        time.sleep(GRACE)

        own_namespace = f"{fleet.attacker.prefix}/"
        outside = [topic for topic, _ in received(attacker) if not topic.startswith(own_namespace)]
        assert outside == []
        assert not any(foreign in payload for _, payload in received(attacker))
        # $SYS has retained messages a subscriber would get at once, were it allowed to read.
        assert any(topic.startswith("$SYS/") for topic, _ in observer.seen())


def test_mosquitto_pub_outside_its_namespace_is_refused(
    settings: Settings, fleet: Fleet, observer: ServiceObserver
) -> None:
    a = fleet.attacker
    wait_accepted(settings, a)
    attempts: dict[str, str] = {}
    for topic in fleet.foreign_topics():
        attempts[topic] = payload = marker("foreign")
        result = mosquitto_pub(
            settings, a.username, a.token, topic, payload, retain=topic.endswith("/status")
        )
        assert result.connack == 0, result.output
        assert result.puback == NOT_AUTHORIZED, f"{topic}: {result.output}"
    control = marker("own")
    result = mosquitto_pub(settings, a.username, a.token, f"{a.prefix}/probe", control)
    assert (result.connack, result.puback) == (0, 0), result.output
    observer.wait_for(control)
    time.sleep(GRACE)
    assert _leaks(observer, attempts) == {}


def test_mosquitto_sub_outside_its_namespace_receives_nothing(
    settings: Settings, fleet: Fleet, observer: ServiceObserver
) -> None:
    a = fleet.attacker
    wait_accepted(settings, a)
    own = f"{a.prefix}/commands"
    with (
        connected(settings, fleet.sibling) as sibling,
        MosquittoSub(settings, a.username, a.token, [*fleet.foreign_filters(), own]) as sub,
    ):
        ready = marker("ready")

        def subscribed() -> bool:  # the filters went in one SUBSCRIBE: all active, or none
            observer.publish(own, ready)
            return ready in sub.output()

        wait_for(subscribed, 5, "mosquitto_sub's subscriptions")
        foreign = marker("foreign")
        sibling.publish("probe", foreign.encode())
        observer.publish(f"{fleet.sibling.prefix}/commands", foreign)
        observer.publish(f"{fleet.stranger.prefix}/commands", foreign)
        observer.publish(f"sentinel/{a.org_id}/broadcast", foreign)
        wait_for(lambda: len(observer.topics_with(foreign)) == 4, 5, "the foreign messages")
        control = marker("own")
        observer.publish(own, control)
        sub.wait_for(control)
        time.sleep(GRACE)

        outside = [line for line in sub.messages() if not line.startswith(f"{a.prefix}/")]
        assert outside == [], sub.output()
        assert foreign not in sub.output()


def test_wrong_credentials_and_anonymous_clients_are_refused(
    settings: Settings, fleet: Fleet
) -> None:
    a, b = fleet.attacker, fleet.sibling
    wait_accepted(settings, a)  # the right credential works, so refusals below mean something
    refused = {
        "wrong password": (a.username, "sdt_" + secrets.token_urlsafe(32)),
        "a sibling's token": (a.username, b.token),
        "another org's token": (a.username, fleet.stranger.token),
        "empty password": (a.username, ""),
        "no password": (a.username, None),
        "anonymous": (None, None),
        "unknown device": (f"{a.org_id}/devices/{uuid.uuid4()}", a.token),
        "token as username": (a.token, a.token),
    }
    for case, (username, password) in refused.items():
        assert connack(settings, username, password).is_failure, case
    # A device credential is worthless on the loopback listener (service credential only).
    assert connack(settings, a.username, a.token, internal=True).is_failure

    for username, password in (
        (a.username, "sdt_" + secrets.token_urlsafe(32)),
        (a.username, b.token),
        (None, None),
    ):
        result = mosquitto_pub(settings, username, password, f"{a.prefix}/probe", "x")
        assert result.connack == NOT_AUTHORIZED, result.output
        assert result.returncode != 0
        assert result.puback is None


def _client_ids_by_username(settings: Settings) -> list[tuple[str, str]]:
    """(client id, username) of every device connection the broker logged."""
    log = (settings.logs_dir / "mosquitto.log").read_text()
    found = re.findall(r"New client connected from \S+ as (\S+) \([^)]*u'([^']*)'\)", log)
    return [(cid, user) for cid, user in found if "/devices/" in user]


def test_another_devices_client_id_cannot_kick_it(
    settings: Settings, fleet: Fleet, observer: ServiceObserver
) -> None:
    a, b = fleet.attacker, fleet.sibling
    with connected(settings, b) as victim:
        # Its own credential and the victim's client id, with paho …
        with connected(settings, a, client_id=b.username) as attacker:
            control = marker("own")
            attacker.publish("probe", control.encode())
            assert observer.wait_for(control) == f"{a.prefix}/probe"
        # … and with mosquitto_pub.
        control = marker("own")
        result = mosquitto_pub(
            settings, a.username, a.token, f"{a.prefix}/probe", control, client_id=b.username
        )
        assert (result.connack, result.puback) == (0, 0), result.output
        observer.wait_for(control)
        # The victim's client id (and username) without its password.
        assert connack(settings, b.username, "wrong", client_id=b.username).is_failure
        assert connack(settings, b.username, a.token, client_id=b.username).is_failure
        result = mosquitto_pub(
            settings, b.username, a.token, f"{b.prefix}/probe", "x", client_id=b.username
        )
        assert result.connack == NOT_AUTHORIZED, result.output
        time.sleep(GRACE)
        assert victim.disconnects == 0
        assert victim.client.is_connected()
        # The broker replaced every device's chosen client id with its username.
        logged = _client_ids_by_username(settings)
        assert (a.username, a.username) in logged
        assert [(cid, user) for cid, user in logged if cid != user] == []

        # Control: the same username from a second connection IS the same client and takes
        # over, whatever client id it asks for — so the counts above could have failed.
        result = mosquitto_pub(
            settings, b.username, b.token, f"{b.prefix}/probe", "x", client_id="another-id"
        )
        assert result.connack == 0, result.output
        wait_for(lambda: victim.disconnects >= 1, 5, "the takeover")


def test_last_will_cannot_target_another_device(
    settings: Settings, fleet: Fleet, observer: ServiceObserver
) -> None:
    a, b = fleet.attacker, fleet.sibling
    with connected(settings, b) as victim:
        subscribe_all(observer, victim, [f"{b.prefix}/#"])
        foreign_will = marker("will")
        crash_with_will(settings, a, observer, f"{b.prefix}/commands", foreign_will)
        # Control: a will inside its own namespace is published when the client dies.
        own_will = marker("will")
        assert crash_with_will(settings, a, observer, f"{a.prefix}/will", own_will)
        assert observer.wait_for(own_will) == f"{a.prefix}/will"
        time.sleep(GRACE)
        assert observer.topics_with(foreign_will) == []
        assert not any(foreign_will in payload for _, payload in received(victim))
