"""Cutting a device off reaches the broker within seconds.

Revoke, decommission and delete each disconnect the connected device within 5 s (the worker
rewrites the password file and Mosquitto re-checks connected clients on reload), it stays
refused for the following 5 s, the API shows it offline with its new status, and its username
leaves the password file — while a bystander device of the same organization is untouched.
Rotating a token cuts off the old credential on the broker and for `GET /api/v1/agent/config`
and the new one works.
"""

from __future__ import annotations

import time
from contextlib import ExitStack

import httpx
from paho.mqtt.reasoncodes import ReasonCode

from sentinel.broker.passwords import verify_mosquitto_hash
from sentinel.config import Settings
from tests.broker.mqtt import (
    NOT_AUTHORIZED,
    close_all,
    connack,
    connected,
    marker,
    mosquitto_pub,
    password_file_hash,
    password_file_users,
    wait_cut_off,
)
from tests.devices.api import (
    School,
    agent_config,
    cut,
    enroll_devices,
    enroll_one,
    get_device,
    list_all,
    ok,
    wait_for_presence,
)
from tests.fleet import DeviceClient, Enrollment
from tests.orgs.api import assert_problem, audit_entries

CUT_OFF_SECONDS = 5.0
REFUSED_SECONDS = 5.0
ONLINE = {"v": 1, "state": "online"}


def _stays_refused(clients: dict[str, DeviceClient], seconds: float) -> None:
    """For `seconds` — and until each of `clients` has tried again at least once (paho keeps
    reconnecting, backing off 1 s, 2 s, 4 s …) — none of them gets back in."""
    attempts = {name: len(client.connect_results) for name, client in clients.items()}
    start = time.monotonic()

    def retried(name: str) -> list[ReasonCode]:
        return clients[name].connect_results[attempts[name] :]

    while time.monotonic() - start < seconds or not all(retried(name) for name in clients):
        back = [name for name, client in clients.items() if client.client.is_connected()]
        assert back == [], f"reconnected after being cut off: {back}"
        assert time.monotonic() - start < seconds + 8, "paho never retried"
        time.sleep(0.05)
    for name in clients:
        assert all(rc.is_failure for rc in retried(name)), f"{name}: {retried(name)}"


def test_revoke_decommission_and_delete_cut_off_a_connected_device(
    https: httpx.Client, settings: Settings, school: School
) -> None:
    revoked, decommissioned, deleted, bystander = enroll_devices(https, school, 4)
    targets = {"revoke": revoked, "decommission": decommissioned, "delete": deleted}
    with ExitStack() as devices:
        clients = {
            name: devices.enter_context(connected(settings, enrollment))
            for name, enrollment in {**targets, "bystander": bystander}.items()
        }
        for client in clients.values():
            client.publish("status", ONLINE)
            wait_for_presence(https, school, client.enrollment.device_id, True)

        latencies: dict[str, float] = {}
        for action, enrollment in targets.items():
            started = time.monotonic()
            assert cut(https, school, action, enrollment.device_id).status_code == 204
            wait_cut_off(clients[action], CUT_OFF_SECONDS)
            latencies[action] = time.monotonic() - started
        assert max(latencies.values()) < CUT_OFF_SECONDS, latencies

        _stays_refused({action: clients[action] for action in targets}, REFUSED_SECONDS)
        for action, enrollment in targets.items():
            result = mosquitto_pub(
                settings, enrollment.username, enrollment.token, f"{enrollment.prefix}/x", "x"
            )
            assert result.connack == NOT_AUTHORIZED, f"{action}: {result.output}"
        # One reload re-checked every client: the bystander was never disconnected.
        assert clients["bystander"].disconnects == 0
        assert clients["bystander"].client.is_connected()
        close_all(list(clients.values()))

    for action, status in (("revoke", "revoked"), ("decommission", "decommissioned")):
        device = get_device(https, school, targets[action].device_id)
        assert (device["status"], device["online"]) == (status, False), device
        listed = list_all(https, school.owner, school, status=status)
        assert [d["id"] for d in listed] == [targets[action].device_id]
    assert_problem(
        https.get(school.device_url(deleted.device_id), headers=school.owner.headers),
        404,
        "not_found",
    )
    remaining = {d["id"] for d in list_all(https, school.owner, school)}
    assert remaining == {revoked.device_id, decommissioned.device_id, bystander.device_id}
    assert get_device(https, school, bystander.device_id)["online"] is True

    users = password_file_users(settings)
    assert not {e.username for e in targets.values()} & users
    assert bystander.username in users
    for enrollment in targets.values():
        assert agent_config(https, enrollment.token).status_code == 401
    assert agent_config(https, bystander.token).status_code == 200

    actions = {
        e["action"]: e["target_id"]
        for e in audit_entries(https, school.owner, school.org_id, action="device")
    }
    assert actions["device.revoked"] == revoked.device_id
    assert actions["device.decommissioned"] == decommissioned.device_id
    assert actions["device.deleted"] == deleted.device_id


def test_rotating_a_token_replaces_the_credential_everywhere(
    https: httpx.Client, settings: Settings, school: School
) -> None:
    old = enroll_one(https, school)
    assert agent_config(https, old.token).status_code == 200
    with connected(settings, old) as old_client:
        body = ok(
            https.post(
                school.device_url(old.device_id, "rotate-token"), headers=school.owner.headers
            )
        )
        assert body["device_id"] == old.device_id
        assert body["mqtt_username"] == old.username
        new = Enrollment(old.org_id, old.device_id, body["device_token"], old.username)
        assert new.token.startswith("sdt_") and new.token != old.token

        # The HTTPS credential changes with the commit; the broker one with the next reload.
        assert agent_config(https, old.token).status_code == 401
        assert agent_config(https, new.token).status_code == 200
        wait_cut_off(old_client, CUT_OFF_SECONDS)
        with connected(settings, new) as new_client:
            control = marker("rotated")
            new_client.publish("probe", control.encode())
            assert connack(settings, old.username, old.token).is_failure
            result = mosquitto_pub(settings, old.username, old.token, f"{old.prefix}/x", "x")
            assert result.connack == NOT_AUTHORIZED, result.output
            # paho keeps retrying the old token with the same client id: refused before it
            # could take over, so the new connection stays up.
            _stays_refused({"old token": old_client}, 2.0)
            assert new_client.disconnects == 0
            assert new_client.client.is_connected()

    hashed = password_file_hash(settings, old.username)
    assert hashed is not None
    assert verify_mosquitto_hash(new.token, hashed)
    assert not verify_mosquitto_hash(old.token, hashed)
    rotated = audit_entries(https, school.owner, school.org_id, action="device.token_rotated")
    assert [e["target_id"] for e in rotated] == [old.device_id]
