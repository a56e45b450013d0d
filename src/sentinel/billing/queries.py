"""All SQL of billing (control schema): subscriptions, Stripe customers and handled events."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from asyncpg import Record

from sentinel.billing.policy import Subscription

_SUBSCRIPTION_COLUMNS = (
    "provider, plan, seats, status, current_period_start, current_period_end, "
    "cancel_at_period_end, stripe_subscription_id, last_event_at, grace_until"
)


def subscription_from(row: Record | None) -> Subscription | None:
    if row is None or row["plan"] is None:
        return None
    return Subscription(**{name: row[name] for name in Subscription.__dataclass_fields__})


async def lock_org(conn: asyncpg.Connection, org_id: UUID) -> Record | None:
    """The organization row, locked: enrollment locks it too, so seat counts stay true."""
    row: Record | None = await conn.fetchrow(
        """SELECT id, name, shard, seat_limit FROM control.organizations
           WHERE id = $1 FOR UPDATE""",
        org_id,
    )
    return row


async def billing_state(conn: asyncpg.Connection, org_id: UUID) -> Record | None:
    """The organization's seat limit, subscription (NULL columns if none) and customer."""
    row: Record | None = await conn.fetchrow(
        f"""SELECT o.seat_limit, c.stripe_customer_id, {_SUBSCRIPTION_COLUMNS}
            FROM control.organizations o
            LEFT JOIN control.subscriptions s ON s.org_id = o.id
            LEFT JOIN control.billing_customers c ON c.org_id = o.id
            WHERE o.id = $1""",
        org_id,
    )
    return row


async def subscription_for_update(conn: asyncpg.Connection, org_id: UUID) -> Subscription | None:
    row: Record | None = await conn.fetchrow(
        f"SELECT {_SUBSCRIPTION_COLUMNS} FROM control.subscriptions WHERE org_id = $1 FOR UPDATE",
        org_id,
    )
    return subscription_from(row)


async def save_subscription(conn: asyncpg.Connection, org_id: UUID, sub: Subscription) -> None:
    values: dict[str, Any] = {
        name: getattr(sub, name) for name in Subscription.__dataclass_fields__
    }
    columns = ", ".join(values)
    params = ", ".join(f"${n}" for n in range(2, len(values) + 2))
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in values)
    await conn.execute(
        f"""INSERT INTO control.subscriptions (org_id, {columns}) VALUES ($1, {params})
            ON CONFLICT (org_id) DO UPDATE SET {updates}, updated_at = now()""",
        org_id,
        *values.values(),
    )


async def set_seat_limit(conn: asyncpg.Connection, org_id: UUID, seat_limit: int) -> None:
    await conn.execute(
        "UPDATE control.organizations SET seat_limit = $2 WHERE id = $1", org_id, seat_limit
    )


async def orgs_without_subscription(conn: asyncpg.Connection) -> list[UUID]:
    rows = await conn.fetch(
        """SELECT o.id FROM control.organizations o
           WHERE NOT EXISTS (SELECT 1 FROM control.subscriptions s WHERE s.org_id = o.id)
           ORDER BY o.created_at, o.id"""
    )
    return [row["id"] for row in rows]


# --- Stripe customers ---------------------------------------------------------------------------


async def customer_id(conn: asyncpg.Connection, org_id: UUID) -> str | None:
    found: str | None = await conn.fetchval(
        "SELECT stripe_customer_id FROM control.billing_customers WHERE org_id = $1", org_id
    )
    return found


async def insert_customer(conn: asyncpg.Connection, org_id: UUID, stripe_customer_id: str) -> str:
    """Store the organization's customer unless it has one already; returns the one it has."""
    await conn.execute(
        """INSERT INTO control.billing_customers (org_id, stripe_customer_id) VALUES ($1, $2)
           ON CONFLICT (org_id) DO NOTHING""",
        org_id,
        stripe_customer_id,
    )
    stored: str = await conn.fetchval(
        "SELECT stripe_customer_id FROM control.billing_customers WHERE org_id = $1", org_id
    )
    return stored


async def org_of_customer(conn: asyncpg.Connection, stripe_customer_id: str) -> UUID | None:
    found: UUID | None = await conn.fetchval(
        "SELECT org_id FROM control.billing_customers WHERE stripe_customer_id = $1",
        stripe_customer_id,
    )
    return found


async def org_exists(conn: asyncpg.Connection, org_id: UUID) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM control.organizations WHERE id = $1)", org_id
    )
    return found


# --- Stripe events ------------------------------------------------------------------------------


async def claim_event(
    conn: asyncpg.Connection, event_id: str, event_type: str, created: datetime
) -> bool:
    """Record the event id; False if it was handled before (or is being handled right now —
    the unique index makes a concurrent delivery wait for the first one's transaction)."""
    status: str = await conn.execute(
        """INSERT INTO control.stripe_events (id, type, created, outcome)
           VALUES ($1, $2, $3, 'received') ON CONFLICT (id) DO NOTHING""",
        event_id,
        event_type,
        created,
    )
    return status.endswith(" 1")


async def set_event_outcome(
    conn: asyncpg.Connection, event_id: str, org_id: UUID | None, outcome: str
) -> None:
    await conn.execute(
        "UPDATE control.stripe_events SET org_id = $2, outcome = $3 WHERE id = $1",
        event_id,
        org_id,
        outcome,
    )
