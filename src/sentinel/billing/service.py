"""Billing rules for the organization's own people.

- Everyone in the organization may see the plan, seats used and available, period, status and
  warnings; only owners change anything (the routes' permissions).
- An owner may switch to a self-serve plan (the free tier) by themselves, unless a paid Stripe
  subscription is live (that is cancelled in Stripe's portal, which then tells us by webhook).
  Paid plans are bought through Stripe Checkout, or set by an operator for invoice billing.
- Starting a checkout changes nothing but the organization's Stripe customer: the plan only
  changes when Stripe confirms, by signed webhook.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from sentinel.api.resources import Resources
from sentinel.audit.service import record
from sentinel.authz.guard import OrgContext
from sentinel.authz.permissions import Permission, allowed
from sentinel.billing import queries, subscriptions
from sentinel.billing.errors import (
    NoBillingAccount,
    PlanNotPurchasable,
    PlanNotSelfServe,
    ProviderUnavailable,
    SeatsOutOfRange,
    SubscriptionExists,
    UnknownPlan,
)
from sentinel.billing.plans import Catalog, Plan, PlanFeatures, catalog
from sentinel.billing.policy import LIVE, Subscription, warnings
from sentinel.billing.providers.stripe_api import StripeApi
from sentinel.config import Settings
from sentinel.devices.queries import seats_used


def plan_out(plan: Plan, online: bool) -> dict[str, Any]:
    return {
        "key": plan.key,
        "name": plan.name,
        "description": plan.description,
        "seats": plan.seats,
        "min_seats": plan.min_seats,
        "max_seats": plan.max_seats,
        "self_serve": plan.self_serve,
        "purchasable": online and plan.stripe_price is not None,
        "features": plan.features.model_dump(),
    }


def _current_plan(sub: Subscription | None, plans: Catalog) -> Plan:
    if sub is None:
        return plans.default
    known = plans.get(sub.plan)
    if known is not None:
        return known
    # A plan removed from the file keeps its subscribers; show it under its key.
    return plans.default.model_copy(
        update={"key": sub.plan, "name": sub.plan, "self_serve": False, "stripe_price": None}
    )


def _follows_live_subscription(sub: Subscription | None) -> bool:
    return sub is not None and sub.stripe_subscription_id is not None and sub.status in LIVE


async def features(conn: asyncpg.Connection, settings: Settings, org_id: UUID) -> PlanFeatures:
    """What the organization's plan includes, for the domains that enforce it (telemetry
    retention, alert channels): the default plan's features until a plan is assigned."""
    row = await queries.billing_state(conn, org_id)
    return _current_plan(queries.subscription_from(row), catalog(settings)).features


def billing_url(res: Resources, ctx: OrgContext) -> str:
    """The dashboard's billing page, where Stripe sends the owner back."""
    return f"{res.settings.public_url}/orgs/{ctx.org_id}/billing"


async def view(res: Resources, ctx: OrgContext) -> dict[str, Any]:
    plans = catalog(res.settings)
    online = res.settings.billing_provider == "stripe"
    async with res.pool.acquire() as conn:
        row = await queries.billing_state(conn, ctx.org_id)
        used = await seats_used(conn, ctx.org_id)
    assert row is not None  # the guard just found the organization
    sub = queries.subscription_from(row)
    limit: int = row["seat_limit"]
    now = datetime.now(UTC)
    period = None
    if sub is not None and (sub.current_period_start or sub.current_period_end):
        period = {"start": sub.current_period_start, "end": sub.current_period_end}
    return {
        "plan": plan_out(_current_plan(sub, plans), online),
        "assigned": sub is not None,
        "provider": sub.provider if sub else "manual",
        "status": sub.status if sub else "active",
        "seats": {"limit": limit, "used": used, "available": max(0, limit - used)},
        "period": period,
        "cancel_at_period_end": bool(sub and sub.cancel_at_period_end),
        "grace_until": sub.grace_until if sub and used > limit else None,
        "warnings": [
            {"code": w.code, "message": w.message}
            for w in warnings(sub, limit=limit, used=used, plans=plans, now=now)
        ],
        "plans": [plan_out(plan, online) for plan in plans.plans],
        "online_payment": online,
        "portal_available": online and row["stripe_customer_id"] is not None,
        "can_manage": allowed(ctx.role, Permission.BILLING_WRITE),
    }


async def choose_plan(res: Resources, ctx: OrgContext, plan_key: str) -> dict[str, Any]:
    plans = catalog(res.settings)
    plan = plans.get(plan_key)
    if plan is None:
        raise UnknownPlan(f"There is no plan {plan_key!r}.")
    if not plan.self_serve:
        raise PlanNotSelfServe(
            f"The {plan.name} plan is bought through checkout or, for invoices, arranged with "
            "the operator of this deployment."
        )
    async with res.pool.acquire() as conn, conn.transaction():
        locked = await subscriptions.lock(conn, ctx.org_id)
        assert locked is not None  # the guard just found the organization
        if _follows_live_subscription(locked.current):
            raise SubscriptionExists(
                "Cancel the paid subscription in the billing portal; the organization moves "
                "to the free plan when it ends."
            )
        await subscriptions.commit(
            conn,
            res.router,
            locked,
            subscriptions.on_plan(plan),
            plans=plans,
            grace_days=res.settings.billing_grace_days,
            actor=ctx.actor,
            action="billing.plan_changed",
        )
    return await view(res, ctx)


def _stripe(res: Resources) -> StripeApi:
    if res.settings.billing_provider != "stripe":
        raise ProviderUnavailable(
            "This deployment bills by invoice; the operator sets plans and seats."
        )
    return StripeApi(res.settings)


async def _customer(res: Resources, ctx: OrgContext, api: StripeApi) -> str:
    async with res.pool.acquire() as conn:
        existing = await queries.customer_id(conn, ctx.org_id)
    if existing is not None:
        return existing
    created = await api.create_customer(ctx.org_id, ctx.name)
    async with res.pool.acquire() as conn:
        return await queries.insert_customer(conn, ctx.org_id, created)


async def start_checkout(
    res: Resources, ctx: OrgContext, plan_key: str, seats: int
) -> dict[str, Any]:
    api = _stripe(res)
    plan = catalog(res.settings).get(plan_key)
    if plan is None:
        raise UnknownPlan(f"There is no plan {plan_key!r}.")
    if plan.stripe_price is None:
        raise PlanNotPurchasable(f"The {plan.name} plan is not sold online.")
    if not plan.allows_seats(seats):
        raise SeatsOutOfRange(
            f"The {plan.name} plan has {plan.min_seats} to {plan.max_seats} seats.",
            min_seats=plan.min_seats,
            max_seats=plan.max_seats,
        )
    async with res.pool.acquire() as conn:
        current = queries.subscription_from(await queries.billing_state(conn, ctx.org_id))
    if _follows_live_subscription(current):
        raise SubscriptionExists("Change the plan or the number of seats in the billing portal.")
    customer = await _customer(res, ctx, api)
    page = billing_url(res, ctx)
    session = await api.create_checkout(
        org_id=ctx.org_id,
        customer=customer,
        plan=plan,
        seats=seats,
        success_url=f"{page}?checkout=success",
        cancel_url=f"{page}?checkout=canceled",
    )
    async with res.router.transaction(ctx.tenant) as conn:
        await record(
            conn,
            ctx.actor,
            "billing.checkout_started",
            target_type="subscription",
            target_id=str(ctx.org_id),
            after={"plan": plan.key, "seats": seats, "checkout_session": session.id},
        )
    return {"id": session.id, "url": session.url}


async def open_portal(res: Resources, ctx: OrgContext) -> dict[str, Any]:
    api = _stripe(res)
    async with res.pool.acquire() as conn:
        customer = await queries.customer_id(conn, ctx.org_id)
    if customer is None:
        raise NoBillingAccount("Subscribe to a plan first; the portal manages a subscription.")
    session = await api.create_portal(customer=customer, return_url=billing_url(res, ctx))
    return {"id": session.id, "url": session.url}
