"""Operator commands for invoice (purchase-order) billing: the `manual` provider.

The people who run a deployment set an organization's plan, seats and billing period after a
school's purchase order, and can place organizations that have no plan yet on the default plan.
Every change is audit-logged in the organization as the operator, like the API's changes.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sentinel.api.resources import Resources
from sentinel.audit.service import Actor
from sentinel.billing import queries, subscriptions
from sentinel.billing.plans import catalog
from sentinel.billing.policy import Subscription
from sentinel.config import Settings
from sentinel.devices.queries import seats_used

OPERATOR = Actor("system", None, "operator (sentinel CLI)")


def _utc(moment: datetime | None) -> datetime | None:
    """Dates typed at a command line carry no zone: billing periods are in UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


async def set_plan(
    settings: Settings,
    org_id: UUID,
    plan_key: str,
    seats: int | None = None,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
) -> dict[str, Any]:
    """Put `org_id` on `plan_key` billed by invoice, with `seats` (default: the plan's).

    The operator may grant any seat count: contracts do not have to match the plan's bounds.
    A paid Stripe subscription the organization followed is no longer followed (cancel it in
    Stripe; its later events are ignored). Raises `LookupError` / `ValueError` on bad input.
    """
    plans = catalog(settings)
    plan = plans.get(plan_key)
    if plan is None:
        known = ", ".join(p.key for p in plans.plans)
        raise ValueError(f"no plan {plan_key!r} (plans: {known})")
    if seats is not None and seats < 0:
        raise ValueError("seats cannot be negative")
    period_start, period_end = _utc(period_start), _utc(period_end)
    if period_start and period_end and period_end <= period_start:
        raise ValueError("the period must end after it starts")
    res = await Resources.open(settings)
    try:
        async with res.pool.acquire() as conn, conn.transaction():
            locked = await subscriptions.lock(conn, org_id)
            if locked is None:
                raise LookupError(f"no organization {org_id}")
            await subscriptions.commit(
                conn,
                res.router,
                locked,
                subscriptions.on_plan(
                    plan,
                    seats,
                    period=(period_start, period_end),
                    last_event_at=locked.current.last_event_at if locked.current else None,
                ),
                plans=plans,
                grace_days=settings.billing_grace_days,
                actor=OPERATOR,
                action="billing.plan_changed",
            )
        return await _summary(res, org_id, stripe_was=locked.current)
    finally:
        await res.close()


async def _summary(
    res: Resources, org_id: UUID, stripe_was: Subscription | None = None
) -> dict[str, Any]:
    async with res.pool.acquire() as conn:
        row = await queries.billing_state(conn, org_id)
        used = await seats_used(conn, org_id)
    if row is None:
        raise LookupError(f"no organization {org_id}")
    sub = queries.subscription_from(row)
    summary: dict[str, Any] = {
        "org_id": str(org_id),
        "plan": sub.plan if sub else None,
        "provider": sub.provider if sub else None,
        "status": sub.status if sub else None,
        "seat_limit": row["seat_limit"],
        "seats_used": used,
        "period_start": sub.current_period_start if sub else None,
        "period_end": sub.current_period_end if sub else None,
        "grace_until": sub.grace_until if sub else None,
    }
    if stripe_was is not None and stripe_was.stripe_subscription_id:
        summary["note"] = (
            f"Stripe subscription {stripe_was.stripe_subscription_id} is no longer followed; "
            "cancel it in Stripe."
        )
    return summary


async def show(settings: Settings, org_id: UUID) -> dict[str, Any]:
    """An organization's billing state as the operator sees it."""
    res = await Resources.open(settings)
    try:
        return await _summary(res, org_id)
    finally:
        await res.close()


async def assign_default_plan(
    settings: Settings, only: Collection[UUID] | None = None
) -> list[str]:
    """Place every organization without a plan (or those of `only`) on the default plan;
    returns the ids of those it placed.

    For deployments that had organizations before billing: until then they keep the seat limit
    they had. Organizations with more devices than the default plan's seats enter the grace
    period; no device is touched.
    """
    plans = catalog(settings)
    res = await Resources.open(settings)
    done: list[str] = []
    try:
        async with res.pool.acquire() as conn:
            pending = await queries.orgs_without_subscription(conn)
        if only is not None:
            wanted = set(only)
            pending = [org_id for org_id in pending if org_id in wanted]
        for org_id in pending:
            async with res.pool.acquire() as conn, conn.transaction():
                locked = await subscriptions.lock(conn, org_id)
                if locked is None or locked.current is not None:
                    continue  # deleted or assigned meanwhile
                await subscriptions.commit(
                    conn,
                    res.router,
                    locked,
                    subscriptions.on_plan(plans.default),
                    plans=plans,
                    grace_days=settings.billing_grace_days,
                    actor=OPERATOR,
                    action="billing.plan_changed",
                )
            done.append(str(org_id))
        return done
    finally:
        await res.close()


def as_json(summary: dict[str, Any]) -> str:
    """The CLI's output format."""
    return json.dumps(summary, default=str, indent=2)
