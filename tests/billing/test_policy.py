"""Seat rules: which limit a subscription grants, when grace starts, what members are told."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from sentinel.billing.plans import Catalog, parse_catalog
from sentinel.billing.policy import Subscription, granted_seats, next_grace, warnings
from tests.billing.support import PLANS_TOML

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
PLANS: Catalog = parse_catalog(PLANS_TOML)
PAID = Subscription(provider="stripe", plan="school", seats=40, status="active")


@pytest.mark.parametrize(
    ("status", "seats"),
    [
        ("active", 40),
        ("trialing", 40),
        ("past_due", 40),  # kept while Stripe retries the payment
        ("unpaid", 3),
        ("incomplete", 3),
        ("paused", 3),
        ("canceled", 3),
    ],
)
def test_only_a_subscription_in_good_standing_grants_its_seats(status: str, seats: int) -> None:
    assert granted_seats(replace(PAID, status=status), PLANS) == seats  # type: ignore[arg-type]


def test_grace_starts_when_a_change_leaves_more_devices_than_seats() -> None:
    grace = next_grace(used=12, old_limit=40, new_limit=10, current=None, now=NOW, grace_days=14)
    assert grace == NOW + timedelta(days=14)


def test_grace_is_not_pushed_back_by_further_changes_while_over_the_limit() -> None:
    started = NOW - timedelta(days=10)
    grace = next_grace(used=12, old_limit=10, new_limit=8, current=started, now=NOW, grace_days=14)
    assert grace == started


def test_grace_ends_when_the_seats_cover_the_devices_again() -> None:
    assert (
        next_grace(used=12, old_limit=10, new_limit=12, current=NOW, now=NOW, grace_days=14) is None
    )


def test_warnings_tell_what_happens_and_that_nothing_is_deleted() -> None:
    over = replace(PAID, seats=10, grace_until=NOW + timedelta(days=3))
    found = warnings(over, limit=10, used=12, plans=PLANS, now=NOW)
    assert [w.code for w in found] == ["over_seat_limit"]
    assert "decommission 2 device(s) before 2026-09-04" in found[0].message
    assert "No device or its data is deleted" in found[0].message

    expired = replace(over, grace_until=NOW - timedelta(days=1))
    codes = [w.code for w in warnings(expired, limit=10, used=12, plans=PLANS, now=NOW)]
    assert codes == ["grace_expired", "over_seat_limit"]


def test_warnings_for_payment_trouble_and_cancellation() -> None:
    failing = replace(PAID, status="past_due")
    assert [w.code for w in warnings(failing, limit=40, used=5, plans=PLANS, now=NOW)] == [
        "payment_failed"
    ]
    unpaid = replace(PAID, status="unpaid")
    found = warnings(unpaid, limit=3, used=3, plans=PLANS, now=NOW)
    assert [w.code for w in found] == ["seat_limit_reached", "subscription_inactive"]
    assert "Free plan's 3 seats" in found[1].message
    ending = replace(PAID, cancel_at_period_end=True, current_period_end=NOW)
    assert [w.code for w in warnings(ending, limit=40, used=1, plans=PLANS, now=NOW)] == [
        "cancels_at_period_end"
    ]


def test_an_organization_without_a_plan_is_told_so() -> None:
    codes = [w.code for w in warnings(None, limit=50, used=1, plans=PLANS, now=NOW)]
    assert codes == ["plan_not_assigned"]
