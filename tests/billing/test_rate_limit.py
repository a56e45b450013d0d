"""Billing endpoints are limited to 10 calls a minute (the production default), in Redis: per\nperson for the organization's endpoints, per organization for Stripe's webhook."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import httpx

from sentinel.stack.launcher import Stack
from tests.billing.signing import WEBHOOK, checkout_completed, event, sign
from tests.billing.stripe_server import FakeStripe
from tests.billing.support import (
    audit_actions,
    in_process,
    seat_limit,
    stripe_events,
    stripe_settings,
    subscription,
)
from tests.devices.api import School
from tests.people import add_member
from tests.ratelimit.checks import assert_rate_limited


async def test_the_eleventh_billing_call_in_a_minute_is_refused(
    https: httpx.Client, stack: Stack, school: School
) -> None:
    readonly = add_member(https, school.owner, school.org_id, "readonly")
    settings = stack.settings.model_copy(update={"rate_limit_billing": "10/minute"})
    owner = school.owner.headers
    async with in_process(settings) as api:
        for _ in range(9):
            assert (await api.get(school.url("billing"), headers=owner)).status_code == 200
        chosen = await api.put(school.url("billing", "plan"), json={"plan": "free"}, headers=owner)
        assert chosen.status_code == 200, chosen.text

        # The 11th is refused whatever the endpoint, and does nothing.
        for method, path in (("GET", ""), ("PUT", "plan"), ("POST", "portal")):
            refused = await api.request(
                method,
                school.url("billing", path),
                json={"plan": "free"} if method == "PUT" else None,
                headers=owner,
            )
            assert_rate_limited(refused, limit=10, window_seconds=60)
        assert await audit_actions(stack.settings, school.org_id) == ["billing.plan_changed"]
        assert await seat_limit(stack.settings, school.org_id) == 10

        # The limit is the caller's: another member of the same school still gets through.
        other = await api.get(school.url("billing"), headers=readonly.headers)
        assert other.status_code == 200, other.text


async def test_webhook_deliveries_are_limited_per_organization_and_retried_later(
    stack: Stack, school: School, fake_stripe: FakeStripe, plans_file: Path
) -> None:
    settings = stripe_settings(
        stack.settings, fake_stripe.base_url, plans_file, rate_limit_billing="10/minute"
    )
    customer = f"cus_{secrets.token_hex(6)}"
    created = int(time.time()) - 60
    payloads = [
        event(
            "checkout.session.completed",
            checkout_completed(
                f"cs_{n}", customer, f"sub_{n}", org_id=school.org_id, plan="school", seats=4 + n
            ),
            created + n,
        )
        for n in range(11)
    ]
    async with in_process(settings) as api:
        for payload in payloads[:10]:
            response = await api.post(
                WEBHOOK, content=payload.encode(), headers={"Stripe-Signature": sign(payload)}
            )
            assert response.json()["outcome"] == "applied", response.text
        eleventh = payloads[10]
        refused = await api.post(
            WEBHOOK, content=eleventh.encode(), headers={"Stripe-Signature": sign(eleventh)}
        )
        assert_rate_limited(refused, limit=10, window_seconds=60)
    # Not recorded as handled: Stripe's retry after the window applies it.
    assert await stripe_events(settings, json.loads(eleventh)["id"]) == []
    row = await subscription(settings, school.org_id)
    assert row is not None and row["seats"] == 13
