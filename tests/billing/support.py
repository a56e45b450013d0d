"""Shared helpers of the billing tests: a plans file with Stripe prices, an in-process API
with billing settings that differ from the shared stack's, and reads of billing state as the
database owner (an operator's view, independent of the API under test)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from pydantic import SecretStr

from sentinel.api.app import create_app
from sentinel.config import Settings
from sentinel.db.tenancy import tenant_schema
from tests.billing.signing import WEBHOOK_SECRET
from tests.billing.stripe_server import SECRET_KEY
from tests.db.access import owner_connection

SCHOOL_PRICE = "price_school_per_seat"
DISTRICT_PRICE = "price_district_per_seat"

PLANS_TOML = f"""
default_plan = "free"

[plans.free]
name = "Free"
seats = 3
min_seats = 3
max_seats = 3
self_serve = true
features = {{ retention_days = 7, alert_channels = ["email"] }}

[plans.school]
name = "School"
seats = 5
min_seats = 4
max_seats = 500
stripe_price = "{SCHOOL_PRICE}"
features = {{ retention_days = 90, alert_channels = ["email", "webhook"] }}

[plans.district]
name = "District"
seats = 100
min_seats = 50
max_seats = 10000
stripe_price = "{DISTRICT_PRICE}"
features = {{ retention_days = 365, alert_channels = ["email", "webhook", "sms"] }}

[plans.enterprise]
name = "Enterprise"
seats = 1000
min_seats = 1
max_seats = 100000
features = {{ retention_days = 730, alert_channels = ["email", "webhook", "sms"] }}
"""


def write_plans(directory: Path) -> Path:
    path = directory / "plans.toml"
    path.write_text(PLANS_TOML)
    return path


def stripe_settings(base: Settings, api_base: str, plans_file: Path, **extra: Any) -> Settings:
    update: dict[str, Any] = {
        "billing_provider": "stripe",
        "billing_plans_file": plans_file,
        "stripe_secret_key": SecretStr(SECRET_KEY),
        "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
        "stripe_api_base": api_base,
        **extra,
    }
    return base.model_copy(update=update)


@asynccontextmanager
async def in_process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API app with `settings`, served in this process (lifespan included)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


async def subscription(settings: Settings, org_id: str) -> dict[str, Any] | None:
    async with owner_connection(settings) as conn:
        row = await conn.fetchrow(
            "SELECT * FROM control.subscriptions WHERE org_id = $1", UUID(org_id)
        )
    return dict(row) if row else None


async def seat_limit(settings: Settings, org_id: str) -> int:
    async with owner_connection(settings) as conn:
        limit: int = await conn.fetchval(
            "SELECT seat_limit FROM control.organizations WHERE id = $1", UUID(org_id)
        )
    return limit


async def audit_actions(settings: Settings, org_id: str, prefix: str = "billing.") -> list[str]:
    """The organization's billing audit entries, oldest first."""
    schema = tenant_schema(UUID(org_id))
    async with owner_connection(settings) as conn:
        rows = await conn.fetch(
            f"SELECT action FROM {schema}.audit_log WHERE action LIKE $1 ORDER BY id",
            prefix + "%",
        )
    return [row["action"] for row in rows]


async def stripe_events(settings: Settings, event_id: str) -> list[dict[str, Any]]:
    async with owner_connection(settings) as conn:
        rows = await conn.fetch("SELECT * FROM control.stripe_events WHERE id = $1", event_id)
    return [dict(row) for row in rows]
