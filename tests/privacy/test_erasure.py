"""Verifiable erasure: deleting an organization leaves nothing behind, and a receipt says so.

A populated organization — members, two enrolled devices that fetched their config, sent
telemetry and inventory and left a retained status on the broker (as the real agent does), one
of them still connected, privacy settings, an export archive waiting on disk, plus a cache entry
and a simulator file keyed by the organization — is deleted by its owner. The connected device
is cut off and no device of it can connect again; its credentials are gone from the broker's
password file and the broker holds no retained message of it. The deletion receipt says what
was removed and that verification found nothing; only the person who deleted can read it.
The test then re-scans everything itself, independently of the code under test: no schema, no
role, no control row mentioning the organization or its devices (except the receipt itself),
no Redis key, no file named after it. A bystander organization is untouched.

Deleting one device with its history removes its telemetry, inventory and alerts — every row
of the tenant mentioning it except the audit trail of its deletion — and cuts it off.
"""

from __future__ import annotations

import json
import secrets as random
from typing import Any
from uuid import UUID

import httpx
import redis

from sentinel.config import Settings
from sentinel.stack.launcher import Stack
from sentinel.stack.secrets import Secrets
from tests.fleet import DeviceClient, Enrollment
from tests.privacy.support import (
    assert_problem,
    await_for,
    connack,
    new_school,
    ok,
    owner_db,
    password_file_users,
    paths_named,
    retained_topics,
    rows_mentioning,
    wait_accepted,
    wait_for,
)

SEQS = [1, 2, 3, 4]
ONLINE = {"v": 1, "state": "online"}
OFFLINE = {"v": 1, "state": "offline"}


def _connect(settings: Settings, device: Enrollment) -> DeviceClient:
    """Connected like the real agent: with a retained `offline` status as its Last Will."""
    wait_accepted(settings, device)
    client = DeviceClient(settings, device)
    client.client.will_set(f"{device.prefix}/status", json.dumps(OFFLINE), qos=1, retain=True)
    client.connect()
    return client


def _populate(https: httpx.Client, settings: Settings, client: DeviceClient) -> None:
    """What a real agent does on start: config, retained online status, inventory, samples."""
    token = client.enrollment.token
    ok(https.get("/api/v1/agent/config", headers={"Authorization": f"Bearer {token}"}))
    client.publish("status", ONLINE, retain=True)
    client.publish("inventory", {"v": 1, "hostname": f"pc-{random.token_hex(3)}"})
    client.send_samples(SEQS, cpu_pct=20.0, users=1)
    client.wait_receipts(set(SEQS))


async def test_deleting_an_organization_leaves_nothing_but_a_receipt(
    stack: Stack,
    https: httpx.Client,
    ahttps: httpx.AsyncClient,
    settings: Settings,
    secrets: Secrets,
    redis_client: redis.Redis,
) -> None:
    school = new_school(https, members=True, devices=2)
    bystander = new_school(https, devices=1)
    assert school.admin is not None and school.readonly is not None
    org_hex = UUID(school.org_id).hex
    device_ids = [d.device_id for d in school.devices]
    usernames = {d.username for d in school.devices}
    ok(
        await ahttps.put(
            school.url("privacy"),
            json={"collect_user_names": True, "telemetry_retention_days": 30},
            headers=school.owner.headers,
        )
    )

    live = _connect(settings, school.devices[0])
    try:
        _populate(https, settings, live)
        second = _connect(settings, school.devices[1])
        try:
            _populate(https, settings, second)
        finally:
            second.close()
        guest = _connect(settings, bystander.devices[0])
        try:
            _populate(https, settings, guest)
        finally:
            guest.close()

        # An export left on disk, and entries keyed by the organization in Redis and files.
        export = ok(
            await ahttps.post(school.url("exports"), json={}, headers=school.admin.headers), 202
        )

        async def built() -> bool:
            status = ok(
                await ahttps.get(school.url("exports", export["id"]), headers=school.admin.headers)
            )
            return bool(status["status"] == "ready")

        await await_for(built, what="the export")
        redis_client.set(f"sentinel:test-cache:{school.org_id}", "1")
        simulator = settings.root / "simulator" / f"{school.org_id}.json"
        simulator.parent.mkdir(parents=True, exist_ok=True)
        simulator.write_text("{}")
        assert paths_named(settings.root, [school.org_id])  # the file scan below can see them
        prefix = f"sentinel/{school.org_id}/#"
        assert retained_topics(settings, secrets.mqtt_service_password, prefix) == [
            f"{d.prefix}/status" for d in sorted(school.devices, key=lambda d: d.prefix)
        ]

        # Only the owner, and only with the exact name.
        wrong = await ahttps.request(
            "DELETE", school.url(), json={"confirm": school.name}, headers=school.admin.headers
        )
        assert_problem(wrong, 403, "forbidden")
        deleted = await ahttps.request(
            "DELETE", school.url(), json={"confirm": school.name}, headers=school.owner.headers
        )
        assert deleted.status_code == 204, deleted.text
        receipt_id = deleted.headers["Sentinel-Deletion-Receipt"]

        # The connected device is cut off by the broker; no device of the organization gets in.
        wait_for(lambda: not live.client.is_connected(), 5, "the device to be cut off")
    finally:
        live.close()
    for device in school.devices:
        assert connack(settings, device).is_failure
        denied = await ahttps.get(
            "/api/v1/agent/config", headers={"Authorization": f"Bearer {device.token}"}
        )
        assert denied.status_code == 401, denied.text
    assert not connack(settings, bystander.devices[0]).is_failure
    users = password_file_users(settings)
    assert not usernames & users
    assert not [u for u in users if u.startswith(school.org_id)]
    assert bystander.devices[0].username in users
    assert retained_topics(settings, secrets.mqtt_service_password, prefix, settle=0.5) == []

    # The receipt: what was removed, a clean verification, readable by the deleter only.
    receipt = ok(
        await ahttps.get(f"/api/v1/deletion-receipts/{receipt_id}", headers=school.owner.headers)
    )
    assert receipt["id"] == receipt_id
    assert receipt["org_id"] == school.org_id
    assert receipt["org_name"] == school.name
    assert receipt["deleted_by"] == school.owner.id
    assert receipt["verified"] is True
    verification: dict[str, Any] = receipt["verification"]
    assert {k: v for k, v in verification.items() if v} == {}, verification
    assert verification["broker_credentials"] == 0  # checked, not "unreadable"
    assert verification["retained_messages"] == []  # checked, not "unreachable"
    removed = receipt["removed"]
    assert removed["devices"] == 2
    assert removed["telemetry_samples"] == 2 * len(SEQS)
    assert removed["members"] == 3
    assert removed["audit_entries"] > 0
    for other in (school.admin, school.readonly, bystander.owner):
        response = await ahttps.get(
            f"/api/v1/deletion-receipts/{receipt_id}", headers=other.headers
        )
        assert_problem(response, 404, "not_found")
    anonymous = await ahttps.get(f"/api/v1/deletion-receipts/{receipt_id}")
    assert anonymous.status_code == 401
    for member in (school.owner, school.readonly):
        assert_problem(await ahttps.get(school.url(), headers=member.headers), 404, "not_found")

    # An independent re-scan.
    needles = [school.org_id, org_hex, *device_ids]
    async with owner_db(settings) as conn:
        schemas = await conn.fetch(
            "SELECT nspname FROM pg_namespace WHERE strpos(nspname, $1) > 0", org_hex
        )
        roles = await conn.fetch(
            "SELECT rolname FROM pg_roles WHERE strpos(rolname, $1) > 0", org_hex
        )
        assert schemas == [] and roles == []
        assert await rows_mentioning(conn, "control", needles, skip=("deletion_receipts",)) == {}
        receipts = await conn.fetchval(
            "SELECT count(*) FROM control.deletion_receipts WHERE org_id = $1", UUID(school.org_id)
        )
        assert receipts == 1
        assert await conn.fetchval(
            "SELECT 1 FROM pg_namespace WHERE nspname = $1", bystander.schema
        )
    keys = {key for needle in needles for key in redis_client.scan_iter(match=f"*{needle}*")}
    assert keys == set()
    assert paths_named(settings.root, [school.org_id, org_hex]) == []


async def test_deleting_a_device_deletes_its_history(
    stack: Stack, https: httpx.Client, ahttps: httpx.AsyncClient, settings: Settings
) -> None:
    school = new_school(https, members=True, devices=2)
    assert school.admin is not None
    gone, kept = school.devices
    for device in school.devices:
        client = _connect(settings, device)
        try:
            client.publish("inventory", {"v": 1, "hostname": f"pc-{random.token_hex(3)}"})
            client.send_samples(SEQS, cpu_pct=30.0)
            client.wait_receipts(set(SEQS))
        finally:
            client.close()

    async with owner_db(settings) as conn:

        async def alerts() -> bool:
            count = await conn.fetchval(
                f"SELECT count(DISTINCT device_id) FROM {school.schema}.alerts"
            )
            return bool(count == 2)

        await await_for(alerts, seconds=30, what="an alert for each device")
        held = await rows_mentioning(conn, school.schema, [gone.device_id])
        assert {"devices", "telemetry", "alerts", "audit_log"} <= set(held), held

        deleted = await ahttps.delete(
            school.url("devices", gone.device_id), headers=school.admin.headers
        )
        assert deleted.status_code == 204, deleted.text

        # Nothing of it is left but the audit trail (which records that it was deleted).
        assert (
            await rows_mentioning(conn, school.schema, [gone.device_id], skip=("audit_log",)) == {}
        )
        trail = await conn.fetch(
            f"SELECT action FROM {school.schema}.audit_log WHERE target_id = $1",
            gone.device_id,
        )
        assert "device.deleted" in {r["action"] for r in trail}
        # The other device keeps everything.
        left = await rows_mentioning(conn, school.schema, [kept.device_id], skip=("audit_log",))
        assert left["telemetry"] == len(SEQS) and left["devices"] == 1 and left["alerts"] >= 1
    wait_for(lambda: connack(settings, gone).is_failure, 5, "the broker to refuse the device")
    assert gone.username not in password_file_users(settings)
    assert_problem(
        await ahttps.get(school.url("devices", gone.device_id), headers=school.owner.headers),
        404,
        "not_found",
    )
