"""Seat rules as pure functions: which seat limit a subscription grants, when a grace period
starts and ends, and the warnings an organization sees.

- Seats are granted while the subscription is in good standing (`active`, `trialing`) and while
  a failed payment is being retried (`past_due`: Stripe's dunning is the first grace period).
  Any other state (`unpaid`, `incomplete`, `paused`, `canceled`) grants the default plan's seats.
- Billing never deletes, disconnects or hides a device. A change that leaves more devices than
  seats only blocks new enrollments and starts a grace period of `billing_grace_days`; repeated
  changes while already over the limit do not push the deadline back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sentinel.billing.plans import Catalog

Status = Literal["active", "trialing", "past_due", "unpaid", "incomplete", "paused", "canceled"]
GRANTING = frozenset({"active", "trialing", "past_due"})
# States in which a Stripe subscription still counts as bought (an organization follows it).
LIVE = GRANTING | {"incomplete"}


@dataclass(frozen=True)
class Subscription:
    """An organization's billing state (a `control.subscriptions` row)."""

    provider: Literal["manual", "stripe"]
    plan: str
    seats: int
    status: Status
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    stripe_subscription_id: str | None = None
    last_event_at: datetime | None = None
    grace_until: datetime | None = None


def granted_seats(subscription: Subscription, plans: Catalog) -> int:
    if subscription.status in GRANTING:
        return subscription.seats
    return plans.default.seats


def next_grace(
    *,
    used: int,
    old_limit: int,
    new_limit: int,
    current: datetime | None,
    now: datetime,
    grace_days: int,
) -> datetime | None:
    """The grace deadline after a change from `old_limit` to `new_limit` seats."""
    if used <= new_limit:
        return None
    if used > old_limit and current is not None:
        return current  # already over the limit: the clock keeps running
    return now + timedelta(days=grace_days)


@dataclass(frozen=True)
class BillingWarning:
    code: str
    message: str


def warnings(
    subscription: Subscription | None,
    *,
    limit: int,
    used: int,
    plans: Catalog,
    now: datetime,
) -> list[BillingWarning]:
    """What the billing page should tell every member, most urgent first."""
    found: list[BillingWarning] = []
    if used > limit:
        grace = subscription.grace_until if subscription else None
        if grace is not None and grace <= now:
            found.append(
                BillingWarning(
                    "grace_expired",
                    f"The grace period ended on {grace:%Y-%m-%d}: {used} devices use "
                    f"{limit} seats. Add seats or decommission devices; nothing is deleted.",
                )
            )
        deadline = f" before {grace:%Y-%m-%d}" if grace is not None and grace > now else ""
        found.append(
            BillingWarning(
                "over_seat_limit",
                f"{used} devices are enrolled but the plan has {limit} seats. New enrollments "
                f"are refused; add seats or decommission {used - limit} device(s){deadline}. "
                "No device or its data is deleted.",
            )
        )
    elif used == limit:
        found.append(
            BillingWarning(
                "seat_limit_reached",
                f"All {limit} seats are in use; the next enrollment will be refused.",
            )
        )
    if subscription is None:
        found.append(
            BillingWarning(
                "plan_not_assigned",
                f"No plan has been chosen yet; the current limit of {limit} seats applies.",
            )
        )
        return found
    fallback = plans.default
    if subscription.status == "past_due":
        found.append(
            BillingWarning(
                "payment_failed",
                "The last payment failed. Seats are kept while the payment is retried; "
                "update the payment method in the billing portal.",
            )
        )
    elif subscription.status not in GRANTING:
        found.append(
            BillingWarning(
                "subscription_inactive",
                f"The subscription is {subscription.status}: the {fallback.name} plan's "
                f"{fallback.seats} seats apply until it is active again.",
            )
        )
    if subscription.cancel_at_period_end and subscription.current_period_end is not None:
        found.append(
            BillingWarning(
                "cancels_at_period_end",
                f"The subscription ends on {subscription.current_period_end:%Y-%m-%d}; "
                f"then the {fallback.name} plan's {fallback.seats} seats apply.",
            )
        )
    return found
