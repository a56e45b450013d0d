"""Changing an organization's subscription: the one path every change takes, whoever asks
(an owner, an operator, a Stripe webhook).

In the caller's control transaction: lock the organization row (enrollment locks it too, so
the seat count cannot move underneath), store the new state, set `organizations.seat_limit`
to the seats it grants, start or clear the grace period, then narrow the transaction to the
tenant and write the audit entry, so the change and its record commit together.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from sentinel.audit.service import Actor, record
from sentinel.billing import queries
from sentinel.billing.plans import Catalog, Plan
from sentinel.billing.policy import Subscription, granted_seats, next_grace
from sentinel.db.tenancy import Tenant, TenantRouter
from sentinel.devices.queries import seats_used
from sentinel.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Locked:
    """An organization locked for a billing change, with its state before the change."""

    tenant: Tenant
    name: str
    seat_limit: int
    current: Subscription | None


async def lock(conn: asyncpg.Connection, org_id: UUID) -> Locked | None:
    org = await queries.lock_org(conn, org_id)
    if org is None:
        return None
    current = await queries.subscription_for_update(conn, org_id)
    return Locked(Tenant(org_id, org["shard"]), org["name"], org["seat_limit"], current)


def on_plan(
    plan: Plan,
    seats: int | None = None,
    *,
    period: tuple[datetime | None, datetime | None] = (None, None),
    grace_until: datetime | None = None,
    last_event_at: datetime | None = None,
) -> Subscription:
    """A plan billed outside Stripe (free, or by invoice), active."""
    return Subscription(
        provider="manual",
        plan=plan.key,
        seats=plan.seats if seats is None else seats,
        status="active",
        current_period_start=period[0],
        current_period_end=period[1],
        grace_until=grace_until,
        last_event_at=last_event_at,
    )


def _summary(sub: Subscription | None, seat_limit: int) -> dict[str, Any]:
    if sub is None:
        return {"plan": None, "seat_limit": seat_limit}
    keep = ("provider", "plan", "seats", "status", "current_period_end", "stripe_subscription_id")
    data = {k: v for k, v in asdict(sub).items() if k in keep}
    if data["current_period_end"] is not None:
        data["current_period_end"] = data["current_period_end"].isoformat()
    return {**data, "seat_limit": seat_limit}


async def commit(
    conn: asyncpg.Connection,
    router: TenantRouter,
    locked: Locked,
    new: Subscription,
    *,
    plans: Catalog,
    grace_days: int,
    actor: Actor,
    action: str,
    now: datetime | None = None,
) -> Subscription:
    """Store `new` for the locked organization; the caller's transaction must stay open and
    may not touch `control` afterwards (the audit entry moves it into the tenant)."""
    now = now or datetime.now(UTC)
    org_id = locked.tenant.org_id
    used = await seats_used(conn, org_id)
    limit = granted_seats(new, plans)
    grace = next_grace(
        used=used,
        old_limit=locked.seat_limit,
        new_limit=limit,
        current=locked.current.grace_until if locked.current else None,
        now=now,
        grace_days=grace_days,
    )
    new = replace(new, grace_until=grace)
    await queries.save_subscription(conn, org_id, new)
    if limit != locked.seat_limit:
        await queries.set_seat_limit(conn, org_id, limit)
    async with router.alongside(conn, locked.tenant) as tenant_conn:
        await record(
            tenant_conn,
            actor,
            action,
            target_type="subscription",
            target_id=str(org_id),
            before=_summary(locked.current, locked.seat_limit),
            after={**_summary(new, limit), "seats_used": used},
        )
    log.info(
        "subscription changed",
        org_id=str(org_id),
        plan=new.plan,
        status=new.status,
        seat_limit=limit,
        seats_used=used,
        grace=grace is not None,
    )
    return new
