"""Buying through Stripe: Checkout Sessions and the Customer Portal, with Stripe's API replaced
only at the HTTP edge (a local server; the `stripe` library and everything above it is the
production path). Starting a checkout changes no plan: only Stripe's signed webhook does."""

from __future__ import annotations

import httpx

from sentinel.config import Settings
from tests.billing.stripe_server import FakeStripe
from tests.billing.support import SCHOOL_PRICE, audit_actions, seat_limit, subscription
from tests.devices.api import School
from tests.orgs.api import assert_problem
from tests.people import add_member

PUBLIC = "https://localhost"


def _customers(fake: FakeStripe, org_id: str) -> list[str]:
    return [
        c.headers["idempotency-key"]
        for c in fake.calls_to("/v1/customers")
        if c.form.get("metadata[org_id]") == org_id
    ]


async def test_checkout_sends_the_owner_to_stripe_and_changes_no_plan_yet(
    stripe_api: httpx.AsyncClient,
    stripe_config: Settings,
    fake_stripe: FakeStripe,
    school: School,
) -> None:
    response = await stripe_api.post(
        school.url("billing", "checkout"),
        json={"plan": "school", "seats": 7},
        headers=school.owner.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["url"] == f"https://checkout.stripe.test/c/pay/{body['id']}"

    (customer,) = [
        c
        for c in fake_stripe.calls_to("/v1/customers")
        if c.form.get("metadata[org_id]") == school.org_id
    ]
    assert customer.form["name"] == school.name
    (session,) = [
        c
        for c in fake_stripe.calls_to("/v1/checkout/sessions")
        if c.form.get("client_reference_id") == school.org_id
    ]
    assert session.form["mode"] == "subscription"
    assert session.form["line_items[0][price]"] == SCHOOL_PRICE
    assert session.form["line_items[0][quantity]"] == "7"
    assert session.form["subscription_data[metadata][org_id]"] == school.org_id
    assert session.form["metadata[plan]"] == "school"
    billing_page = f"{stripe_config.public_url}/orgs/{school.org_id}/billing"
    assert session.form["success_url"] == f"{billing_page}?checkout=success"
    assert session.form["cancel_url"] == f"{billing_page}?checkout=canceled"
    assert session.form["customer"].startswith("cus_")

    # Nothing about the plan changed: that waits for Stripe's webhook.
    assert await subscription(stripe_config, school.org_id) is None
    assert await seat_limit(stripe_config, school.org_id) == 50
    assert await audit_actions(stripe_config, school.org_id) == ["billing.checkout_started"]

    # A second checkout reuses the organization's customer.
    again = await stripe_api.post(
        school.url("billing", "checkout"),
        json={"plan": "district", "seats": 60},
        headers=school.owner.headers,
    )
    assert again.status_code == 200, again.text
    sessions = [
        c
        for c in fake_stripe.calls_to("/v1/checkout/sessions")
        if c.form.get("client_reference_id") == school.org_id
    ]
    assert [s.form["customer"] for s in sessions] == [session.form["customer"]] * 2
    assert len(_customers(fake_stripe, school.org_id)) == 1


async def test_the_portal_needs_a_customer_first(
    stripe_api: httpx.AsyncClient, stripe_config: Settings, fake_stripe: FakeStripe, school: School
) -> None:
    owner = school.owner.headers
    portal = school.url("billing", "portal")
    assert_problem(await stripe_api.post(portal, headers=owner), 409, "no_billing_account")
    view = (await stripe_api.get(school.url("billing"), headers=owner)).json()
    assert view["online_payment"] is True and view["portal_available"] is False
    assert [p["key"] for p in view["plans"] if p["purchasable"]] == ["school", "district"]

    checkout = await stripe_api.post(
        school.url("billing", "checkout"), json={"plan": "school", "seats": 4}, headers=owner
    )
    assert checkout.status_code == 200, checkout.text
    opened = await stripe_api.post(portal, headers=owner)
    assert opened.status_code == 200, opened.text
    assert opened.json()["url"].startswith("https://billing.stripe.test/p/session/bps_")
    call = fake_stripe.calls_to("/v1/billing_portal/sessions")[-1]
    assert call.form["return_url"] == f"{stripe_config.public_url}/orgs/{school.org_id}/billing"
    assert (await stripe_api.get(school.url("billing"), headers=owner)).json()["portal_available"]


async def test_checkout_refuses_what_cannot_be_bought(
    stripe_api: httpx.AsyncClient, fake_stripe: FakeStripe, school: School
) -> None:
    owner = school.owner.headers
    checkout = school.url("billing", "checkout")
    cases = [
        ({"plan": "enterprise", "seats": 10}, 409, "plan_not_purchasable"),  # invoice only
        ({"plan": "free", "seats": 3}, 409, "plan_not_purchasable"),
        ({"plan": "school", "seats": 3}, 422, "seats_out_of_range"),
        ({"plan": "school", "seats": 501}, 422, "seats_out_of_range"),
        ({"plan": "gold", "seats": 10}, 422, "unknown_plan"),
        ({"plan": "school"}, 422, "validation_failed"),
    ]
    calls = len(fake_stripe.calls)
    for body, status, code in cases:
        assert_problem(await stripe_api.post(checkout, json=body, headers=owner), status, code)
    assert len(fake_stripe.calls) == calls


async def test_an_admin_cannot_start_a_checkout_or_open_the_portal(
    https: httpx.Client, stripe_api: httpx.AsyncClient, fake_stripe: FakeStripe, school: School
) -> None:
    admin = add_member(https, school.owner, school.org_id, "admin")
    calls = len(fake_stripe.calls)
    refused = await stripe_api.post(
        school.url("billing", "checkout"),
        json={"plan": "school", "seats": 9},
        headers=admin.headers,
    )
    assert_problem(refused, 403, "forbidden")
    portal = await stripe_api.post(school.url("billing", "portal"), headers=admin.headers)
    assert_problem(portal, 403, "forbidden")
    assert len(fake_stripe.calls) == calls


async def test_a_stripe_error_is_a_502_and_changes_nothing(
    stripe_api: httpx.AsyncClient, stripe_config: Settings, fake_stripe: FakeStripe, school: School
) -> None:
    fake_stripe.fail_next = True
    response = await stripe_api.post(
        school.url("billing", "checkout"),
        json={"plan": "school", "seats": 5},
        headers=school.owner.headers,
    )
    assert_problem(response, 502, "payment_provider_error")
    assert "sk_test" not in response.text
    assert await subscription(stripe_config, school.org_id) is None
    assert await audit_actions(stripe_config, school.org_id) == []
