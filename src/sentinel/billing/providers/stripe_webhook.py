"""Inbound Stripe webhooks: signature verification with the official library, the allow-list of
event types, and what each allowed event says about a subscription.

Verification (`stripe.Webhook.construct_event`) checks the HMAC-SHA256 of `"<t>.<payload>"`
under the endpoint's signing secret and refuses timestamps older than the tolerance, so a
captured delivery cannot be replayed later. Only then is the payload read; ids and metadata
in it are trusted because Stripe signed them (the metadata was written by our own checkout).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import stripe

from sentinel.billing.errors import InvalidWebhook
from sentinel.billing.policy import Status
from sentinel.config import Settings

_STATUSES: dict[str, Status] = {
    "active": "active",
    "trialing": "trialing",
    "past_due": "past_due",
    "unpaid": "unpaid",
    "incomplete": "incomplete",
    "incomplete_expired": "canceled",
    "paused": "paused",
    "canceled": "canceled",
}
Kind = Literal["checkout", "subscription", "subscription_ended", "invoice_paid", "invoice_failed"]
_KINDS: dict[str, Kind] = {
    "checkout.session.completed": "checkout",
    "customer.subscription.created": "subscription",
    "customer.subscription.updated": "subscription",
    "customer.subscription.deleted": "subscription_ended",
    "invoice.paid": "invoice_paid",
    "invoice.payment_failed": "invoice_failed",
}
ALLOWED_EVENTS = frozenset(_KINDS)


@dataclass(frozen=True)
class StripeEvent:
    id: str
    type: str
    created: datetime
    object: dict[str, Any]


def verify(payload: bytes, signature: str | None, settings: Settings) -> StripeEvent:
    """The event, if `signature` is Stripe's for `payload` and recent; else `InvalidWebhook`."""
    secret = settings.stripe_webhook_secret
    if secret is None:
        raise InvalidWebhook("No webhook signing secret is configured.")
    try:
        event = stripe.Webhook.construct_event(
            payload,
            signature,
            secret.get_secret_value(),
            tolerance=settings.stripe_webhook_tolerance_seconds,
        )
        data = event.to_dict()
        return StripeEvent(
            id=str(data["id"]),
            type=str(data["type"]),
            created=datetime.fromtimestamp(int(data["created"]), UTC),
            object=dict(data["data"]["object"]),
        )
    except stripe.SignatureVerificationError:
        raise InvalidWebhook("The Stripe-Signature header does not match or is too old.") from None
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise InvalidWebhook("The payload is not a Stripe event.") from None


@dataclass(frozen=True)
class Facts:
    """What one allowed event says about a subscription (None: the event does not say)."""

    kind: Kind
    subscription_id: str | None = None
    customer_id: str | None = None
    org_hint: UUID | None = None
    plan_key: str | None = None
    price_id: str | None = None
    seats: int | None = None
    status: Status | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    cancel_at_period_end: bool = False


def _id(value: Any) -> str | None:
    """An id whether Stripe sent it bare or as an expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(str(value)) if value else None
    except ValueError:
        return None


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if isinstance(value, int) else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _checkout(obj: dict[str, Any]) -> Facts:
    metadata = _metadata(obj)
    paid = obj.get("payment_status") in ("paid", "no_payment_required")
    return Facts(
        kind="checkout",
        subscription_id=_id(obj.get("subscription")) if obj.get("mode") == "subscription" else None,
        customer_id=_id(obj.get("customer")),
        org_hint=_uuid(obj.get("client_reference_id") or metadata.get("org_id")),
        plan_key=metadata.get("plan"),
        seats=_int(metadata.get("seats")),
        status="active" if paid else "incomplete",
    )


def _subscription(obj: dict[str, Any], kind: Kind) -> Facts:
    items = (obj.get("items") or {}).get("data") or [{}]
    item = items[0] if isinstance(items[0], dict) else {}
    price = item.get("price") or obj.get("plan") or {}
    # API versions from 2025 on keep the billing period on the item, not the subscription.
    start = obj.get("current_period_start", item.get("current_period_start"))
    end = obj.get("current_period_end", item.get("current_period_end"))
    return Facts(
        kind=kind,
        subscription_id=_id(obj.get("id")),
        customer_id=_id(obj.get("customer")),
        org_hint=_uuid(_metadata(obj).get("org_id")),
        plan_key=_metadata(obj).get("plan"),
        price_id=_id(price),
        seats=_int(item.get("quantity", obj.get("quantity"))),
        status=_STATUSES.get(str(obj.get("status")), "incomplete"),
        period_start=_time(start),
        period_end=_time(end),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
    )


def _invoice(obj: dict[str, Any], kind: Kind) -> Facts:
    # Older API versions name the subscription on the invoice, newer ones under `parent`.
    details = (obj.get("parent") or {}).get("subscription_details") or {}
    return Facts(
        kind=kind,
        subscription_id=_id(obj.get("subscription") or details.get("subscription")),
        customer_id=_id(obj.get("customer")),
        org_hint=_uuid(_metadata(details).get("org_id")),
    )


def read(event: StripeEvent) -> Facts | None:
    """The facts of an allowed event; None for every other type (acknowledged, not applied)."""
    kind = _KINDS.get(event.type)
    if kind is None:
        return None
    if kind == "checkout":
        return _checkout(event.object)
    if kind in ("subscription", "subscription_ended"):
        return _subscription(event.object, kind)
    return _invoice(event.object, kind)
