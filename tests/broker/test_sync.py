"""Broker credential sync: PostgreSQL is the source of truth for the broker's password file.

A burst of enrollments is debounced into very few broker reloads (counted in the worker log)
and every enrolled device can then connect; the password file holds exactly the active
credentials of the control plane, owner-only; deleting an organization removes every
credential of its devices from the file and cuts off the ones still connected.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import stat
import time
from datetime import UTC, datetime, timedelta

import httpx

from sentinel.broker.sync import RELOAD_SETTLE_SECONDS, reconcile_lock_file
from sentinel.config import Settings
from sentinel.stack.mosquitto import device_password_file
from tests.broker.mqtt import (
    RELOAD_LOG_LINE,
    broker_reloads,
    connack,
    connected,
    password_file_users,
    wait_accepted,
    wait_cut_off,
    wait_quiet,
)
from tests.devices.api import (
    AGENT_ENROLL,
    School,
    agent_config,
    database,
    enroll_devices,
    enroll_one,
    new_school,
    ok,
    wait_for,
)
from tests.fleet import Enrollment, enrollment_token

BURST = 20
MAX_RELOADS_PER_BURST = 4


async def test_a_burst_of_enrollments_costs_few_broker_reloads(
    https: httpx.Client, ahttps: httpx.AsyncClient, settings: Settings, school: School
) -> None:
    token = enrollment_token(https, school.owner, school.org_id, max_uses=BURST)
    before = wait_quiet(settings)
    started = time.monotonic()
    responses = await asyncio.gather(
        *(
            ahttps.post(AGENT_ENROLL, json={"token": token, "hostname": f"lab-{i:02d}"})
            for i in range(BURST)
        )
    )
    burst_seconds = time.monotonic() - started
    enrollments = []
    for response in responses:
        body = ok(response)
        enrollments.append(
            Enrollment(
                body["org_id"], body["device_id"], body["device_token"], body["mqtt"]["username"]
            )
        )
    usernames = {e.username for e in enrollments}
    assert len(usernames) == BURST
    wait_for(lambda: usernames <= password_file_users(settings), 10, "the burst's credentials")
    reloads = wait_quiet(settings) - before
    assert 1 <= reloads <= MAX_RELOADS_PER_BURST, (
        f"{reloads} broker reloads for {BURST} enrollments in {burst_seconds:.2f}s"
    )
    for enrollment in enrollments:
        wait_accepted(settings, enrollment)


def test_reconciling_is_serialized_across_processes(
    https: httpx.Client, settings: Settings, school: School
) -> None:
    """Organization erasure and the operator's broker-sync reconcile outside the worker. Every
    caller takes the same lock, and keeps it a moment after its SIGHUP (Mosquitto drops a SIGHUP
    that arrives while it is still reloading)."""
    lock_path = reconcile_lock_file(settings)
    before = wait_quiet(settings)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another process is reconciling
        device = enroll_one(https, school)
        time.sleep(1.0)
        assert device.username not in password_file_users(settings)
        assert broker_reloads(settings) == before
    finally:
        os.close(fd)
    wait_for(lambda: broker_reloads(settings) > before, 5, "the worker's reload")
    assert device.username in password_file_users(settings)
    fd = os.open(lock_path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        released = datetime.now(UTC)
    finally:
        os.close(fd)
    assert released - _last_reload_logged(settings) >= timedelta(seconds=RELOAD_SETTLE_SECONDS)
    wait_accepted(settings, device)


def _last_reload_logged(settings: Settings) -> datetime:
    lines = (settings.logs_dir / "worker.log").read_text().splitlines()
    last = next(line for line in reversed(lines) if RELOAD_LOG_LINE in line)
    return datetime.fromisoformat(last.split()[0])


async def test_password_file_holds_exactly_the_active_credentials(
    https: httpx.Client, ahttps: httpx.AsyncClient, settings: Settings, school: School
) -> None:
    active, revoked = enroll_devices(https, school, 2)
    url = school.device_url(revoked.device_id, "revoke")
    response = await ahttps.post(url, headers=school.owner.headers)
    assert response.status_code == 204
    path = device_password_file(settings)

    async def file_matches_database() -> bool:
        async with database(settings) as conn:
            rows = await conn.fetch(
                """SELECT broker_username, broker_hash FROM control.device_credentials
                   WHERE status = 'active'"""
            )
        wanted = {r["broker_username"]: r["broker_hash"] for r in rows}
        lines = [line.split(":", 1) for line in path.read_text().splitlines()]
        return {user: hashed for user, hashed in lines} == wanted

    deadline = time.monotonic() + 10
    while not await file_matches_database():
        assert time.monotonic() < deadline, "the password file never matched the database"
        await asyncio.sleep(0.1)
    users = password_file_users(settings)
    assert active.username in users
    assert revoked.username not in users
    mode = path.stat().st_mode
    assert stat.S_IMODE(mode) == 0o600, oct(mode)


async def test_deleting_an_organization_removes_its_credentials(
    https: httpx.Client, ahttps: httpx.AsyncClient, settings: Settings, school: School
) -> None:
    devices = enroll_devices(https, school, 3)
    unused_token = enrollment_token(https, school.owner, school.org_id)
    other_school = new_school(https)
    bystander = enroll_one(https, other_school)
    usernames = {e.username for e in devices}
    with connected(settings, devices[0]) as live, connected(settings, bystander) as other:
        response = await ahttps.request(
            "DELETE", school.url(), json={"confirm": school.name}, headers=school.owner.headers
        )
        assert response.status_code == 204, response.text
        wait_cut_off(live, 5.0)
        wait_for(lambda: not usernames & password_file_users(settings), 5, "the credentials gone")
        for enrollment in devices:
            assert connack(settings, enrollment.username, enrollment.token).is_failure
            assert agent_config(https, enrollment.token).status_code == 401
        assert other.disconnects == 0
        assert other.client.is_connected()
    assert bystander.username in password_file_users(settings)
    assert (await ahttps.post(AGENT_ENROLL, json={"token": unused_token})).status_code == 401
    async with database(settings) as conn:
        left = await conn.fetchval(
            """SELECT (SELECT count(*) FROM control.device_credentials WHERE org_id = $1)
                    + (SELECT count(*) FROM control.enrollment_tokens WHERE org_id = $1)""",
            school.org_id,
        )
    assert left == 0
