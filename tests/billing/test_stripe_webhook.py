"""Stripe's signed webhook: a valid signature applies the event; an invalid or stale one is a
400 that changes nothing; each event id is applied once; an older event never overwrites newer
state; payment trouble and cancellation warn and start grace, and never touch a device."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any
from uuid import UUID

import httpx
import pytest

from sentinel.config import Settings
from tests.billing import signing
from tests.billing.signing import WEBHOOK, checkout_completed, event, invoice, sign
from tests.billing.stripe_server import FakeStripe
from tests.billing.support import (
    DISTRICT_PRICE,
    SCHOOL_PRICE,
    audit_actions,
    seat_limit,
    stripe_events,
    subscription,
)
from tests.db.access import owner_connection, snapshot
from tests.devices.api import School, enroll_devices, list_all, try_enroll
from tests.fleet import enrollment_token
from tests.orgs.api import assert_problem
from tests.people import add_member


async def _customer_of(stripe_api: httpx.AsyncClient, fake: FakeStripe, school: School) -> str:
    """Start a checkout (as the owner would) and return the Stripe customer it created."""
    response = await stripe_api.post(
        school.url("billing", "checkout"),
        json={"plan": "school", "seats": 7},
        headers=school.owner.headers,
    )
    assert response.status_code == 200, response.text
    calls = [
        c
        for c in fake.calls_to("/v1/checkout/sessions")
        if c.form.get("client_reference_id") == school.org_id
    ]
    return calls[-1].form["customer"]


async def deliver(
    client: httpx.AsyncClient, payload: str, signature: str | None = None
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    headers["Stripe-Signature"] = sign(payload) if signature is None else signature
    return await client.post(WEBHOOK, content=payload.encode(), headers=headers)


async def delivered(client: httpx.AsyncClient, payload: str) -> str:
    response = await deliver(client, payload)
    assert response.status_code == 200, response.text
    outcome: str = response.json()["outcome"]
    return outcome


class Subscriber:
    """A school that went through checkout, and the Stripe objects that describe it."""

    def __init__(self, school: School, customer: str) -> None:
        self.school = school
        self.customer = customer
        self.sub_id = f"sub_{secrets.token_hex(8)}"
        self.clock = int(time.time()) - 100

    def tick(self, seconds: int = 1) -> int:
        self.clock += seconds
        return self.clock

    def subscription(self, **fields: Any) -> dict[str, Any]:
        values: dict[str, Any] = {"price": SCHOOL_PRICE, "quantity": 7, **fields}
        return signing.subscription(self.sub_id, self.customer, org_id=self.school.org_id, **values)

    def completed(self, seats: int = 7) -> dict[str, Any]:
        return checkout_completed(
            f"cs_test_{secrets.token_hex(6)}",
            self.customer,
            self.sub_id,
            org_id=self.school.org_id,
            plan="school",
            seats=seats,
        )


@pytest.fixture
async def subscriber(
    stripe_api: httpx.AsyncClient, fake_stripe: FakeStripe, school: School
) -> Subscriber:
    return Subscriber(school, await _customer_of(stripe_api, fake_stripe, school))


async def test_a_valid_signature_applies_the_subscription(
    https: httpx.Client,
    stripe_api: httpx.AsyncClient,
    stripe_config: Settings,
    subscriber: Subscriber,
) -> None:
    school = subscriber.school
    completed = event("checkout.session.completed", subscriber.completed(), subscriber.tick())
    assert await delivered(stripe_api, completed) == "applied"
    created = event(
        "customer.subscription.created", subscriber.subscription(quantity=7), subscriber.tick()
    )
    assert await delivered(stripe_api, created) == "applied"

    row = await subscription(stripe_config, school.org_id)
    assert row is not None
    assert (row["provider"], row["plan"], row["seats"], row["status"]) == (
        "stripe",
        "school",
        7,
        "active",
    )
    assert row["stripe_subscription_id"] == subscriber.sub_id
    assert await seat_limit(stripe_config, school.org_id) == 7
    assert await audit_actions(stripe_config, school.org_id) == [
        "billing.checkout_started",
        "billing.checkout.session.completed",
        "billing.customer.subscription.created",
    ]

    readonly = add_member(https, school.owner, school.org_id, "readonly")
    view = (await stripe_api.get(school.url("billing"), headers=readonly.headers)).json()
    assert view["plan"]["key"] == "school" and view["provider"] == "stripe"
    assert view["seats"] == {"limit": 7, "used": 0, "available": 7}
    assert view["period"] == {"start": "2026-05-28T20:26:40Z", "end": "2026-06-27T20:26:40Z"}
    assert view["portal_available"] is True

    # Subscribed: more seats go through the portal, and the free plan waits for cancellation.
    owner = school.owner.headers
    again = await stripe_api.post(
        school.url("billing", "checkout"), json={"plan": "school", "seats": 9}, headers=owner
    )
    assert_problem(again, 409, "subscription_exists")
    free = await stripe_api.put(school.url("billing", "plan"), json={"plan": "free"}, headers=owner)
    assert_problem(free, 409, "subscription_exists")


@pytest.mark.parametrize(
    "forge",
    ["wrong_secret", "tampered_payload", "stale_timestamp", "no_signature", "not_v1", "garbage"],
)
async def test_an_invalid_or_stale_signature_is_refused_and_changes_nothing(
    forge: str, stripe_api: httpx.AsyncClient, stripe_config: Settings, subscriber: Subscriber
) -> None:
    school = subscriber.school
    payload = event("checkout.session.completed", subscriber.completed(), subscriber.tick())
    event_id = payload.split('"id": "')[1].split('"')[0]
    now = int(time.time())
    body, signature = payload, sign(payload)
    if forge == "wrong_secret":
        signature = sign(payload, secret="whsec_someone_else")
    elif forge == "tampered_payload":
        body = payload.replace('"seats": "7"', '"seats": "700"')
    elif forge == "stale_timestamp":  # a captured delivery replayed after the tolerance
        signature = sign(
            payload, timestamp=now - stripe_config.stripe_webhook_tolerance_seconds - 5
        )
    elif forge == "no_signature":
        signature = ""
    elif forge == "not_v1":
        signature = sign(payload).replace("v1=", "v0=")
    else:
        signature = "t=abc,v1=zzz"
    async with owner_connection(stripe_config) as conn:
        before = await snapshot(conn, school.org_id)
        response = await deliver(stripe_api, body, signature)
        assert_problem(response, 400, "invalid_webhook")
        assert await snapshot(conn, school.org_id) == before
    assert await stripe_events(stripe_config, event_id) == []
    assert await subscription(stripe_config, school.org_id) is None


async def test_the_same_event_twice_is_applied_once(
    stripe_api: httpx.AsyncClient, stripe_config: Settings, subscriber: Subscriber
) -> None:
    school = subscriber.school
    first = event("checkout.session.completed", subscriber.completed(seats=7), subscriber.tick())
    assert await delivered(stripe_api, first) == "applied"
    newer = event(
        "customer.subscription.updated", subscriber.subscription(quantity=9), subscriber.tick()
    )
    assert await delivered(stripe_api, newer) == "applied"
    # Redelivered (Stripe retries until it sees a 2xx): recorded once, applied once.
    assert await delivered(stripe_api, first) == "duplicate"
    assert await delivered(stripe_api, newer) == "duplicate"
    event_id = first.split('"id": "')[1].split('"')[0]
    (record,) = await stripe_events(stripe_config, event_id)
    assert (record["outcome"], record["org_id"]) == ("applied", UUID(school.org_id))
    row = await subscription(stripe_config, school.org_id)
    assert row is not None and row["seats"] == 9
    assert await audit_actions(stripe_config, school.org_id, "billing.c") == [
        "billing.checkout_started",
        "billing.checkout.session.completed",
        "billing.customer.subscription.updated",
    ]


async def test_an_older_event_after_a_newer_one_does_not_regress(
    stripe_api: httpx.AsyncClient, stripe_config: Settings, subscriber: Subscriber
) -> None:
    school = subscriber.school
    older_at, newer_at = subscriber.tick(), subscriber.tick(10)
    older = event(
        "customer.subscription.updated",
        subscriber.subscription(quantity=20, price=DISTRICT_PRICE),
        older_at,
    )
    newer = event("customer.subscription.updated", subscriber.subscription(quantity=12), newer_at)
    assert await delivered(stripe_api, newer) == "applied"
    assert await delivered(stripe_api, older) == "stale"
    row = await subscription(stripe_config, school.org_id)
    assert row is not None
    assert (row["plan"], row["seats"]) == ("school", 12)
    assert row["last_event_at"].timestamp() == newer_at
    assert await seat_limit(stripe_config, school.org_id) == 12
    # Also for a cancellation that Stripe sent before the subscription was renewed.
    deleted = event(
        "customer.subscription.deleted", subscriber.subscription(status="canceled"), older_at
    )
    assert await delivered(stripe_api, deleted) == "stale"
    assert await seat_limit(stripe_config, school.org_id) == 12


async def test_failed_payment_warns_and_keeps_seats_until_stripe_gives_up(
    https: httpx.Client,
    stripe_api: httpx.AsyncClient,
    stripe_config: Settings,
    subscriber: Subscriber,
) -> None:
    school = subscriber.school
    owner = school.owner.headers
    created = event(
        "customer.subscription.created", subscriber.subscription(quantity=6), subscriber.tick()
    )
    assert await delivered(stripe_api, created) == "applied"
    enrolled = enroll_devices(https, school, 5)

    failed = event(
        "invoice.payment_failed",
        invoice(subscriber.customer, subscriber.sub_id, "open"),
        subscriber.tick(),
    )
    assert await delivered(stripe_api, failed) == "applied"
    view = (await stripe_api.get(school.url("billing"), headers=owner)).json()
    assert view["status"] == "past_due" and view["seats"]["limit"] == 6
    assert [w["code"] for w in view["warnings"]] == ["payment_failed"]

    paid = event("invoice.paid", invoice(subscriber.customer, subscriber.sub_id), subscriber.tick())
    assert await delivered(stripe_api, paid) == "applied"
    assert (await stripe_api.get(school.url("billing"), headers=owner)).json()["warnings"] == []

    # Stripe gives up and cancels: the free tier's 3 seats apply to 5 devices — grace, warnings,
    # refused enrollments, and every device still there.
    ended = event(
        "customer.subscription.deleted",
        subscriber.subscription(status="canceled"),
        subscriber.tick(),
    )
    assert await delivered(stripe_api, ended) == "applied"
    view = (await stripe_api.get(school.url("billing"), headers=owner)).json()
    assert view["plan"]["key"] == "free" and view["provider"] == "manual"
    assert view["seats"] == {"limit": 3, "used": 5, "available": 0}
    assert [w["code"] for w in view["warnings"]] == ["over_seat_limit"]
    assert view["grace_until"] is not None
    devices = list_all(https, school.owner, school)
    assert sorted(d["id"] for d in devices) == sorted(e.device_id for e in enrolled)
    assert {d["status"] for d in devices} == {"active"}
    token = enrollment_token(https, school.owner, school.org_id)
    assert_problem(try_enroll(https, token), 402, "seat_limit_reached")


async def test_events_outside_the_allow_list_or_for_nobody_are_not_applied(
    stripe_api: httpx.AsyncClient, stripe_config: Settings, subscriber: Subscriber
) -> None:
    school = subscriber.school
    other = event(
        "customer.created", {"id": subscriber.customer, "object": "customer"}, subscriber.tick()
    )
    response = await deliver(stripe_api, other)
    assert response.status_code == 200 and response.json()["outcome"] == "ignored_type"
    other_id = other.split('"id": "')[1].split('"')[0]
    assert await stripe_events(stripe_config, other_id) == []

    stranger = signing.subscription(
        "sub_stranger", "cus_stranger", org_id=str(UUID(int=5)), price=SCHOOL_PRICE, quantity=99
    )
    nobody = event("customer.subscription.created", stranger, subscriber.tick())
    assert await delivered(stripe_api, nobody) == "unmatched"

    # The school's own customer with a subscription it did not buy through checkout.
    foreign = signing.subscription(
        "sub_foreign", subscriber.customer, org_id="", price=SCHOOL_PRICE, quantity=99
    )
    assert (
        await delivered(
            stripe_api, event("customer.subscription.created", foreign, subscriber.tick())
        )
        == "other_subscription"
    )
    assert await subscription(stripe_config, school.org_id) is None
    assert await seat_limit(stripe_config, school.org_id) == 50


async def test_concurrent_deliveries_of_one_event_apply_it_once(
    stripe_api: httpx.AsyncClient, stripe_config: Settings, subscriber: Subscriber
) -> None:
    payload = event("checkout.session.completed", subscriber.completed(), subscriber.tick())
    responses = await asyncio.gather(*(deliver(stripe_api, payload) for _ in range(4)))
    assert sorted(r.json()["outcome"] for r in responses) == ["applied"] + ["duplicate"] * 3
    actions = await audit_actions(stripe_config, subscriber.school.org_id)
    assert actions.count("billing.checkout.session.completed") == 1
