"""The billing page's API on the shared stack (invoice billing, the default): every member sees
plan and usage; only owners change the plan, and only to a self-serve plan by themselves."""

from __future__ import annotations

from uuid import UUID

import httpx

from sentinel.billing.operator import set_plan
from sentinel.billing.service import features
from sentinel.stack.launcher import Stack
from tests.billing.signing import WEBHOOK
from tests.billing.support import audit_actions, seat_limit, subscription
from tests.db.access import owner_connection, snapshot
from tests.devices.api import School, enroll_devices
from tests.orgs.api import assert_problem
from tests.people import add_member, signup


def test_every_member_sees_plan_and_usage(https: httpx.Client, school: School) -> None:
    enroll_devices(https, school, 2)
    admin = add_member(https, school.owner, school.org_id, "admin")
    readonly = add_member(https, school.owner, school.org_id, "readonly")
    for user, manages in ((school.owner, True), (admin, False), (readonly, False)):
        response = https.get(school.url("billing"), headers=user.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["seats"] == {"limit": 50, "used": 2, "available": 48}
        assert body["can_manage"] is manages
    # Before anyone chooses, the organization keeps the limit it has and is told so.
    assert body["assigned"] is False
    assert body["plan"]["key"] == "free"
    assert body["provider"] == "manual" and body["online_payment"] is False
    assert [w["code"] for w in body["warnings"]] == ["plan_not_assigned"]
    assert [p["key"] for p in body["plans"]] == ["free", "school", "district"]
    assert body["plans"][1]["features"] == {
        "retention_days": 90,
        "alert_channels": ["email", "webhook"],
    }
    assert not any(p["purchasable"] for p in body["plans"])


async def test_an_owner_chooses_the_free_plan(
    https: httpx.Client, ahttps: httpx.AsyncClient, stack: Stack, school: School
) -> None:
    readonly = add_member(https, school.owner, school.org_id, "readonly")
    response = await ahttps.put(
        school.url("billing", "plan"), json={"plan": "free"}, headers=school.owner.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["seats"]["limit"] == 10
    assert await seat_limit(stack.settings, school.org_id) == 10
    row = await subscription(stack.settings, school.org_id)
    assert row is not None
    assert (row["plan"], row["seats"], row["status"], row["provider"]) == (
        "free",
        10,
        "active",
        "manual",
    )
    assert await audit_actions(stack.settings, school.org_id) == ["billing.plan_changed"]

    seen = (await ahttps.get(school.url("billing"), headers=readonly.headers)).json()
    assert seen["assigned"] is True and seen["plan"]["name"] == "Free"
    assert seen["seats"] == {"limit": 10, "used": 0, "available": 10}
    assert seen["warnings"] == []


async def test_an_admin_cannot_change_the_plan(
    https: httpx.Client, ahttps: httpx.AsyncClient, stack: Stack, school: School
) -> None:
    admin = add_member(https, school.owner, school.org_id, "admin")
    readonly = add_member(https, school.owner, school.org_id, "readonly")
    attempts = [
        ("PUT", "plan", {"plan": "free"}),
        ("POST", "checkout", {"plan": "school", "seats": 20}),
        ("POST", "portal", None),
    ]
    async with owner_connection(stack.settings) as conn:
        before = await snapshot(conn, school.org_id)
        for user in (admin, readonly):
            for method, path, body in attempts:
                refused = await ahttps.request(
                    method, school.url("billing", path), json=body, headers=user.headers
                )
                assert_problem(refused, 403, "forbidden")
        assert await snapshot(conn, school.org_id) == before
    assert await seat_limit(stack.settings, school.org_id) == 50


def test_paid_plans_are_not_self_serve(https: httpx.Client, school: School) -> None:
    owner = school.owner.headers
    plan = school.url("billing", "plan")
    assert_problem(
        https.put(plan, json={"plan": "school"}, headers=owner), 409, "plan_not_self_serve"
    )
    assert_problem(https.put(plan, json={"plan": "gold"}, headers=owner), 422, "unknown_plan")
    # With invoice billing there is no checkout or portal, and no webhook to call.
    checkout = https.post(
        school.url("billing", "checkout"), json={"plan": "school", "seats": 20}, headers=owner
    )
    assert_problem(checkout, 409, "billing_provider_unavailable")
    portal = https.post(school.url("billing", "portal"), headers=owner)
    assert_problem(portal, 409, "billing_provider_unavailable")
    assert_problem(https.post(WEBHOOK, content=b"{}"), 404, "not_found")


def test_other_organizations_billing_does_not_exist(https: httpx.Client, school: School) -> None:
    stranger = signup(https)
    assert_problem(https.get(school.url("billing"), headers=stranger.headers), 404, "not_found")
    refused = https.put(
        school.url("billing", "plan"), json={"plan": "free"}, headers=stranger.headers
    )
    assert_problem(refused, 404, "not_found")


async def test_other_domains_read_the_plan_features(stack: Stack, school: School) -> None:
    async with owner_connection(stack.settings) as conn:
        unassigned = await features(conn, stack.settings, UUID(school.org_id))
        await set_plan(stack.settings, UUID(school.org_id), "district", seats=120)
        district = await features(conn, stack.settings, UUID(school.org_id))
    assert (unassigned.retention_days, unassigned.alert_channels) == (7, ("email",))
    assert (district.retention_days, district.alert_channels) == (365, ("email", "webhook", "sms"))
