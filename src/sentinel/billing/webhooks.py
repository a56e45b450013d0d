"""Applying verified Stripe events to subscriptions.

- Each event id is handled once: its id is claimed in `control.stripe_events` in the same
  transaction that applies it, so a redelivery (or a concurrent duplicate) changes nothing.
- Events never move state backwards: one whose `created` is older than the subscription's last
  applied event is recorded as `stale` and not applied (Stripe does not deliver in order).
- An organization follows one Stripe subscription at a time (the one its checkout created).
  Events about any other subscription are recorded and ignored; a plan that an operator set
  by invoice is never taken over by a Stripe subscription that was not bought through checkout.
- The webhook is rate limited per organization after verification (unsigned requests never
  reach the limit, and one school's burst cannot delay another's); Stripe retries a 429.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from sentinel.api.resources import Resources
from sentinel.audit.service import Actor
from sentinel.billing import queries, subscriptions
from sentinel.billing.errors import WebhookDisabled
from sentinel.billing.plans import Catalog, catalog
from sentinel.billing.policy import GRANTING, LIVE, Subscription
from sentinel.billing.providers.stripe_webhook import Facts, StripeEvent, read, verify
from sentinel.logging import get_logger

log = get_logger(__name__)
STRIPE = Actor("system", None, "stripe (webhook)")


async def _org_of(conn: asyncpg.Connection, facts: Facts) -> UUID | None:
    if facts.customer_id is not None:
        org_id = await queries.org_of_customer(conn, facts.customer_id)
        if org_id is not None:
            return org_id
    if facts.org_hint is not None and await queries.org_exists(conn, facts.org_hint):
        return facts.org_hint
    return None


def _may_adopt(current: Subscription | None, facts: Facts, org_id: UUID, plans: Catalog) -> bool:
    """Whether an organization that follows no subscription takes up this one."""
    if facts.status not in LIVE or facts.org_hint != org_id:
        return False  # only subscriptions our own checkout created carry the org's id
    if current is None or current.provider == "stripe":
        return True
    plan = plans.get(current.plan)
    return plan is not None and plan.self_serve  # never override an operator's invoice plan


def decide(
    current: Subscription | None,
    facts: Facts,
    *,
    org_id: UUID,
    event_at: datetime,
    plans: Catalog,
) -> tuple[str, Subscription | None]:
    """The outcome for the event log and the new state (None: nothing to apply)."""
    if current is not None and current.last_event_at and event_at < current.last_event_at:
        return "stale", None
    following = current.stripe_subscription_id if current else None
    grace = current.grace_until if current else None
    if facts.subscription_id is None:
        return "no_subscription", None

    if facts.kind in ("checkout", "subscription"):
        if following != facts.subscription_id and not (
            facts.kind == "checkout" or _may_adopt(current, facts, org_id, plans)
        ):
            return "other_subscription", None
        plan = (plans.by_stripe_price(facts.price_id) if facts.price_id else None) or plans.get(
            facts.plan_key or (current.plan if current else "")
        )
        if plan is None:
            log.warning("stripe event names no known plan", price=facts.price_id)
            return "unknown_plan", None
        same = current is not None and following == facts.subscription_id
        return "applied", Subscription(
            provider="stripe",
            plan=plan.key,
            seats=facts.seats if facts.seats is not None else plan.seats,
            status=facts.status or "incomplete",
            current_period_start=facts.period_start
            or (current.current_period_start if same and current else None),
            current_period_end=facts.period_end
            or (current.current_period_end if same and current else None),
            cancel_at_period_end=facts.cancel_at_period_end,
            stripe_subscription_id=facts.subscription_id,
            last_event_at=event_at,
            grace_until=grace,
        )

    if current is None or following != facts.subscription_id:
        return "other_subscription", None
    if facts.kind == "subscription_ended":
        return "applied", subscriptions.on_plan(
            plans.default, grace_until=grace, last_event_at=event_at
        )
    if facts.kind == "invoice_failed":
        status = "past_due" if current.status in GRANTING else current.status
        return "applied", replace(current, status=status, last_event_at=event_at)
    status = "active" if current.status in ("past_due", "unpaid") else current.status
    return "applied", replace(current, status=status, last_event_at=event_at)


async def handle(res: Resources, payload: bytes, signature: str | None) -> dict[str, Any]:
    """Verify and apply one delivery; answers what happened (Stripe only needs the 2xx)."""
    settings = res.settings
    if settings.billing_provider != "stripe":
        raise WebhookDisabled("Stripe billing is not enabled on this deployment.")
    event: StripeEvent = verify(payload, signature, settings)
    facts = read(event)
    if facts is None:
        return {"received": True, "outcome": "ignored_type"}
    plans = catalog(settings)
    async with res.pool.acquire() as conn:
        org_id = await _org_of(conn, facts)
    await res.limiter.enforce("billing", f"stripe:{org_id or 'unmatched'}")

    async with res.pool.acquire() as conn, conn.transaction():
        if not await queries.claim_event(conn, event.id, event.type, event.created):
            return {"received": True, "outcome": "duplicate"}
        locked = await subscriptions.lock(conn, org_id) if org_id else None
        if locked is None:
            await queries.set_event_outcome(conn, event.id, None, "unmatched")
            log.info("stripe event for no organization", event_type=event.type)
            return {"received": True, "outcome": "unmatched"}
        if facts.customer_id is not None:
            await queries.insert_customer(conn, locked.tenant.org_id, facts.customer_id)
        outcome, new = decide(
            locked.current, facts, org_id=locked.tenant.org_id, event_at=event.created, plans=plans
        )
        await queries.set_event_outcome(conn, event.id, locked.tenant.org_id, outcome)
        if new is not None:
            await subscriptions.commit(
                conn,
                res.router,
                locked,
                new,
                plans=plans,
                grace_days=settings.billing_grace_days,
                actor=STRIPE,
                action=f"billing.{event.type}",
            )
    log.info("stripe event handled", event_type=event.type, outcome=outcome)
    return {"received": True, "outcome": outcome}
