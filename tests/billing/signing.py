"""Stripe webhook deliveries as Stripe makes them: an event JSON and its `Stripe-Signature`
header, `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<payload>" under the signing secret>`.
Written out here rather than borrowed from the library, so the test checks the library's
verification against the documented scheme."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

WEBHOOK_SECRET = "whsec_sentinel_local_test_secret"
WEBHOOK = "/api/v1/billing/stripe/webhook"


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def event(kind: str, obj: dict[str, Any], created: int, event_id: str | None = None) -> str:
    body = {
        "id": event_id or f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "type": kind,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }
    return json.dumps(body)


def subscription(
    sub_id: str,
    customer: str,
    *,
    org_id: str,
    price: str,
    quantity: int,
    status: str = "active",
    period: tuple[int, int] = (1_780_000_000, 1_782_592_000),
    cancel_at_period_end: bool = False,
) -> dict[str, Any]:
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "current_period_start": period[0],
        "current_period_end": period[1],
        "metadata": {"org_id": org_id, "plan": "school"},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{secrets.token_hex(6)}",
                    "object": "subscription_item",
                    "quantity": quantity,
                    "price": {"id": price, "object": "price"},
                }
            ],
        },
    }


def checkout_completed(
    session_id: str, customer: str, sub_id: str, *, org_id: str, plan: str, seats: int
) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "mode": "subscription",
        "payment_status": "paid",
        "status": "complete",
        "customer": customer,
        "subscription": sub_id,
        "client_reference_id": org_id,
        "metadata": {"org_id": org_id, "plan": plan, "seats": str(seats)},
    }


def invoice(customer: str, sub_id: str, status: str = "paid") -> dict[str, Any]:
    return {
        "id": f"in_{secrets.token_hex(8)}",
        "object": "invoice",
        "customer": customer,
        "subscription": sub_id,
        "status": status,
    }
