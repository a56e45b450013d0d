"""Seats in force: the operator's invoice plan sets the limit enrollment enforces; the
(N+1)-th device is refused, decommissioning frees a seat, and going below usage warns and
starts a grace period without touching a device."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
import pytest

from sentinel.billing.operator import assign_default_plan, set_plan, show
from sentinel.stack.launcher import Stack
from tests.billing.support import audit_actions, seat_limit, subscription
from tests.devices.api import (
    School,
    agent_config,
    cut,
    enroll_devices,
    list_all,
    new_school,
    try_enroll,
)
from tests.fleet import enroll, enrollment_token
from tests.orgs.api import assert_problem
from tests.people import add_member


async def test_the_seat_limit_blocks_the_next_enrollment_and_decommission_frees_a_seat(
    https: httpx.Client, ahttps: httpx.AsyncClient, stack: Stack, school: School
) -> None:
    start = datetime(2026, 9, 1, tzinfo=UTC)
    summary = await set_plan(
        stack.settings,
        UUID(school.org_id),
        "school",
        seats=3,
        period_start=start,
        period_end=start + timedelta(days=365),
    )
    assert (summary["plan"], summary["seat_limit"], summary["provider"]) == ("school", 3, "manual")
    token = enrollment_token(https, school.owner, school.org_id, max_uses=10)
    devices = [enroll(https, token) for _ in range(3)]

    refused = assert_problem(try_enroll(https, token, "pc-4"), 402, "seat_limit_reached")
    assert (refused["seats_used"], refused["seat_limit"]) == (3, 3)
    view = (await ahttps.get(school.url("billing"), headers=school.owner.headers)).json()
    assert view["seats"] == {"limit": 3, "used": 3, "available": 0}
    assert [w["code"] for w in view["warnings"]] == ["seat_limit_reached"]
    assert view["period"] == {"start": "2026-09-01T00:00:00Z", "end": "2027-09-01T00:00:00Z"}

    assert cut(https, school, "decommission", devices[0].device_id).status_code == 204
    seats = (await ahttps.get(school.url("billing"), headers=school.owner.headers)).json()
    assert seats["seats"] == {
        "limit": 3,
        "used": 2,
        "available": 1,
    }
    assert try_enroll(https, token, "pc-4").status_code == 200
    assert_problem(try_enroll(https, token, "pc-5"), 402, "seat_limit_reached")
    assert await audit_actions(stack.settings, school.org_id) == ["billing.plan_changed"]


async def test_going_below_usage_warns_and_starts_a_grace_period_deleting_nothing(
    https: httpx.Client, ahttps: httpx.AsyncClient, stack: Stack, school: School
) -> None:
    enrolled = enroll_devices(https, school, 4)
    readonly = add_member(https, school.owner, school.org_id, "readonly")
    before = datetime.now(UTC)
    await set_plan(stack.settings, UUID(school.org_id), "school", seats=2)

    view = (await ahttps.get(school.url("billing"), headers=readonly.headers)).json()
    assert view["seats"] == {"limit": 2, "used": 4, "available": 0}
    assert [w["code"] for w in view["warnings"]] == ["over_seat_limit"]
    assert "decommission 2 device(s)" in view["warnings"][0]["message"]
    grace = datetime.fromisoformat(view["grace_until"])
    assert before + timedelta(days=14) <= grace <= datetime.now(UTC) + timedelta(days=14)

    # Every device is still there and still active; only new enrollments are refused.
    devices = list_all(https, school.owner, school)
    assert sorted(d["id"] for d in devices) == sorted(e.device_id for e in enrolled)
    assert {d["status"] for d in devices} == {"active"}
    assert all(agent_config(https, e.token).status_code == 200 for e in enrolled)
    token = enrollment_token(https, school.owner, school.org_id)
    assert_problem(try_enroll(https, token), 402, "seat_limit_reached")

    # A second cut while over the limit keeps the deadline; enough seats end the grace.
    await set_plan(stack.settings, UUID(school.org_id), "school", seats=1)
    row = await subscription(stack.settings, school.org_id)
    assert row is not None and row["grace_until"] == grace
    await set_plan(stack.settings, UUID(school.org_id), "school", seats=6)
    row = await subscription(stack.settings, school.org_id)
    assert row is not None and row["grace_until"] is None
    final = (await ahttps.get(school.url("billing"), headers=readonly.headers)).json()
    assert final["warnings"] == []


async def test_the_operator_rejects_what_makes_no_sense(stack: Stack, school: School) -> None:
    org = UUID(school.org_id)
    with pytest.raises(ValueError, match="no plan 'gold'"):
        await set_plan(stack.settings, org, "gold")
    with pytest.raises(ValueError, match="negative"):
        await set_plan(stack.settings, org, "school", seats=-1)
    with pytest.raises(LookupError):
        await set_plan(stack.settings, UUID(int=7), "school", seats=5)
    assert (await show(stack.settings, org))["plan"] is None
    assert await seat_limit(stack.settings, school.org_id) == 50


async def test_organizations_without_a_plan_can_be_placed_on_the_default_plan(
    https: httpx.Client, stack: Stack, school: School
) -> None:
    planless = new_school(https)
    enroll_devices(https, planless, 11)
    await set_plan(stack.settings, UUID(school.org_id), "district", seats=700)
    both = {UUID(school.org_id), UUID(planless.org_id)}
    assert await assign_default_plan(stack.settings, only=both) == [planless.org_id]
    assert await seat_limit(stack.settings, school.org_id) == 700
    placed = await show(stack.settings, UUID(planless.org_id))
    assert (placed["plan"], placed["seat_limit"], placed["seats_used"]) == ("free", 10, 11)
    assert placed["grace_until"] is not None  # 11 devices on 10 seats: grace, nothing deleted
    assert await assign_default_plan(stack.settings, only=both) == []
