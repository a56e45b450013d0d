"""Enrollment: what the agent gets, which enrollment tokens work, and seat limits.

An enrollment answers with everything the agent needs (device token shown once, MQTT username
`{org_id}/devices/{device_id}`, broker address, CA). Enrollment tokens are usable `max_uses`
times and not after they expire or are revoked. An organization's seat limit refuses the next
enrollment with 402 `seat_limit_reached` and creates nothing; decommissioning or deleting a
device frees its seat (revoking does not), also under concurrent enrollments.
`GET /api/v1/agent/config` accepts only the bearer token of an active device.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sentinel.config import Settings
from tests.devices.api import (
    AGENT_ENROLL,
    School,
    agent_config,
    create_token,
    cut,
    database,
    device_ids,
    enroll_devices,
    enrollment_tokens,
    get_device,
    list_all,
    ok,
    try_enroll,
)
from tests.fleet import enroll
from tests.orgs.api import assert_problem, audit_entries

INVALID = "enrollment_token_invalid"


def test_enrollment_answers_with_everything_the_agent_needs(
    https: httpx.Client, settings: Settings, school: School
) -> None:
    created = create_token(https, school, label="Lab 4", max_uses=5, expires_in_hours=2)
    assert created["token"].startswith("set_")
    assert len(created["token"]) >= 40
    assert (created["label"], created["max_uses"], created["uses"]) == ("Lab 4", 5, 0)
    expires = datetime.fromisoformat(created["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(minutes=1)
    assert created["revoked_at"] is None

    body = ok(try_enroll(https, created["token"], "lab4-pc01.school.example"))
    org_id, device_id = body["org_id"], body["device_id"]
    assert org_id == school.org_id
    username = f"{org_id}/devices/{device_id}"
    assert body["mqtt"] == {
        "host": settings.public_host,
        "port": settings.mqtts_port,
        "username": username,
        "client_id": username,
        "topic_prefix": f"sentinel/{username}",
    }
    assert body["device_token"].startswith("sdt_")
    assert len(body["device_token"]) >= 40
    assert body["api_url"] == settings.public_url
    assert body["ca_cert"] == settings.ca_cert_path.read_text()
    assert body["ca_cert"].startswith("-----BEGIN CERTIFICATE-----")

    device = get_device(https, school, device_id)
    assert device["name"] == device["hostname"] == "lab4-pc01.school.example"
    assert (device["status"], device["online"], device["last_seen_at"]) == ("active", False, None)
    assert device_ids(list_all(https, school.owner, school, status="never_seen")) == [device_id]

    # The raw enrollment token is shown once: the list has its use count, not the token.
    listed = enrollment_tokens(https, school)[str(created["id"])]
    assert listed["uses"] == 1
    assert "token" not in listed
    assert created["token"] not in str(listed)

    named = enroll(https, created["token"], "lab4-pc02")
    renamed = ok(
        https.post(
            AGENT_ENROLL,
            json={"token": created["token"], "hostname": "lab4-pc03", "name": "Teacher desk"},
        )
    )
    assert get_device(https, school, renamed["device_id"])["name"] == "Teacher desk"
    assert named.token != body["device_token"]

    enrolled = audit_entries(https, school.owner, school.org_id, action="device.enrolled")
    mine = next(e for e in enrolled if e["target_id"] == device_id)
    assert (mine["actor_type"], mine["actor_id"]) == ("device", device_id)


def test_a_token_with_a_group_enrolls_into_that_group(https: httpx.Client, school: School) -> None:
    group = ok(
        https.post(
            school.url("device-groups"), json={"name": "Library"}, headers=school.owner.headers
        ),
        201,
    )
    token = create_token(https, school, group_id=group["id"], max_uses=2)["token"]
    device = enroll(https, token)
    assert get_device(https, school, device.device_id)["group_id"] == group["id"]
    # The group may go away before the token is used up: the next device lands ungrouped.
    url = school.url("device-groups", group["id"])
    assert https.delete(url, headers=school.owner.headers).status_code == 204
    assert get_device(https, school, enroll(https, token).device_id)["group_id"] is None
    response = https.post(
        school.url("enrollment-tokens"),
        json={"label": "nowhere", "group_id": "00000000-0000-4000-8000-000000000000"},
        headers=school.owner.headers,
    )
    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize("max_uses", [1, 3])
def test_a_token_is_used_up_after_max_uses(
    https: httpx.Client, school: School, max_uses: int
) -> None:
    created = create_token(https, school, max_uses=max_uses)
    for _ in range(max_uses):
        enroll(https, created["token"])
    assert_problem(try_enroll(https, created["token"]), 401, INVALID)
    assert enrollment_tokens(https, school)[str(created["id"])]["uses"] == max_uses
    assert len(list_all(https, school.owner, school)) == max_uses


async def test_an_expired_token_is_refused(
    https: httpx.Client, settings: Settings, school: School
) -> None:
    created = create_token(https, school, max_uses=10)
    enroll(https, created["token"])
    async with database(settings) as conn:
        await conn.execute(
            """UPDATE control.enrollment_tokens SET expires_at = now() - interval '1 second'
               WHERE id = $1""",
            created["id"],
        )
    assert_problem(try_enroll(https, created["token"]), 401, INVALID)
    assert len(list_all(https, school.owner, school)) == 1


def test_revoked_and_unknown_tokens_are_refused(https: httpx.Client, school: School) -> None:
    created = create_token(https, school, max_uses=10)
    url = school.url("enrollment-tokens", str(created["id"]))
    assert https.delete(url, headers=school.owner.headers).status_code == 204
    assert enrollment_tokens(https, school)[str(created["id"])]["revoked_at"] is not None
    assert_problem(try_enroll(https, created["token"]), 401, INVALID)
    assert_problem(https.delete(url, headers=school.owner.headers), 404, "not_found")

    assert_problem(try_enroll(https, "set_" + secrets.token_urlsafe(32)), 401, INVALID)
    assert_problem(try_enroll(https, created["token"] + "x"), 401, INVALID)
    assert try_enroll(https, "short").status_code == 422
    assert list_all(https, school.owner, school) == []


async def _seat_limit(settings: Settings, school: School, seats: int) -> None:
    async with database(settings) as conn:
        await conn.execute(
            "UPDATE control.organizations SET seat_limit = $2 WHERE id = $1",
            school.org_id,
            seats,
        )


async def _credentials(settings: Settings, school: School) -> int:
    async with database(settings) as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM control.device_credentials WHERE org_id = $1", school.org_id
        )
    return count


async def test_the_seat_limit_refuses_the_next_device_and_creates_nothing(
    https: httpx.Client, settings: Settings, school: School
) -> None:
    await _seat_limit(settings, school, 3)
    created = create_token(https, school, max_uses=20)
    token = created["token"]
    first, second, third = (enroll(https, token) for _ in range(3))

    def refused() -> None:
        problem = assert_problem(try_enroll(https, token), 402, "seat_limit_reached")
        assert (problem["seats_used"], problem["seat_limit"]) == (3, 3)

    refused()
    assert len(list_all(https, school.owner, school)) == 3
    assert await _credentials(settings, school) == 3
    assert enrollment_tokens(https, school)[str(created["id"])]["uses"] == 3

    # A revoked device still holds its seat; decommissioning frees it.
    assert cut(https, school, "revoke", first.device_id).status_code == 204
    refused()
    assert cut(https, school, "decommission", first.device_id).status_code == 204
    fourth = enroll(https, token)
    refused()

    # Revoking a decommissioned device is refused: it would take the seat back.
    assert cut(https, school, "decommission", second.device_id).status_code == 204
    assert_problem(cut(https, school, "revoke", second.device_id), 409, "device_not_active")
    assert get_device(https, school, second.device_id)["status"] == "decommissioned"
    enroll(https, token)
    refused()

    # Deleting a device frees its seat too.
    assert cut(https, school, "delete", third.device_id).status_code == 204
    enroll(https, token)
    refused()
    assert len(list_all(https, school.owner, school)) == 5  # two decommissioned
    assert await _credentials(settings, school) == 5
    assert get_device(https, school, fourth.device_id)["status"] == "active"


async def test_concurrent_enrollments_cannot_overrun_the_seat_limit(
    https: httpx.Client, ahttps: httpx.AsyncClient, settings: Settings, school: School
) -> None:
    await _seat_limit(settings, school, 3)
    enroll_devices(https, school, 1)
    tokens = [create_token(https, school, max_uses=5)["token"] for _ in range(4)]
    responses = await asyncio.gather(
        *(
            ahttps.post(AGENT_ENROLL, json={"token": token, "hostname": f"race-{i}"})
            for i, token in enumerate(tokens * 2)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200] + [402] * 6, [r.text for r in responses]
    assert await _credentials(settings, school) == 3


def test_agent_config_accepts_only_an_active_device_token(
    https: httpx.Client, settings: Settings, school: School
) -> None:
    device, revoked = enroll_devices(https, school, 2)
    config = ok(agent_config(https, device.token))
    assert config["telemetry_interval_s"] == settings.telemetry_interval_seconds
    assert set(config) >= {"telemetry_interval_s", "inventory_interval_h", "allow_reboot"}
    assert cut(https, school, "revoke", revoked.device_id).status_code == 204
    enrollment = create_token(https, school)["token"]

    for credential in (
        school.owner.access_token,
        school.owner.refresh_token,
        enrollment,
        revoked.token,
        "sdt_" + secrets.token_urlsafe(32),
        "garbage",
        device.token + "x",
        device.token.removeprefix("sdt_"),
    ):
        assert_problem(agent_config(https, credential), 401, "unauthorized")
    assert_problem(https.get("/api/v1/agent/config"), 401, "unauthorized")
