"""Calls to Stripe's API through the official library.

One short-lived `StripeClient` per call (billing calls are rate limited to a few a minute, so a
pooled connection would buy nothing and would need closing at shutdown). Its base address comes
from `Settings.stripe_api_base`, which is how tests put a local server at the HTTP edge while
everything above it stays the production path.

The library's synchronous client (on `requests`) runs in a worker thread: its async client
hands raw bytes to httpx as `data=`, which httpx deprecates (and will drop in 1.0).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

import stripe

from sentinel.billing.errors import BillingNotConfigured, PaymentProviderError
from sentinel.billing.plans import Plan
from sentinel.config import Settings
from sentinel.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Redirect:
    id: str
    url: str


class StripeApi:
    def __init__(self, settings: Settings) -> None:
        if settings.stripe_secret_key is None:
            raise BillingNotConfigured("SENTINEL_STRIPE_SECRET_KEY is not set.")
        self._key = settings.stripe_secret_key.get_secret_value()
        self._base = settings.stripe_api_base.rstrip("/")
        self._timeout = settings.stripe_timeout_seconds

    def _call(self, action: str, request: Callable[[stripe.StripeClient], T]) -> T:
        http = stripe.RequestsClient(timeout=self._timeout)
        client = stripe.StripeClient(
            self._key,
            base_addresses={"api": self._base},
            http_client=http,
            max_network_retries=2,  # the library adds idempotency keys to its retries
        )
        try:
            return request(client)
        except stripe.StripeError as exc:
            # The library's messages name the request, never the key; the code is stable.
            log.warning(
                "stripe call failed",
                action=action,
                error=exc.__class__.__name__,
                code=exc.code,
                status=exc.http_status,
            )
            raise PaymentProviderError(
                "Stripe did not accept the request; try again shortly."
            ) from None
        finally:
            http.close()  # type: ignore[no-untyped-call]

    async def _run(self, action: str, request: Callable[[stripe.StripeClient], T]) -> T:
        return await asyncio.to_thread(self._call, action, request)

    async def create_customer(self, org_id: UUID, org_name: str) -> str:
        # The idempotency key makes two concurrent first checkouts share one customer.
        customer = await self._run(
            "create_customer",
            lambda client: client.v1.customers.create(
                {"name": org_name, "metadata": {"org_id": str(org_id)}},
                {"idempotency_key": f"sentinel-customer-{org_id}"},
            ),
        )
        return customer.id

    async def create_checkout(
        self,
        *,
        org_id: UUID,
        customer: str,
        plan: Plan,
        seats: int,
        success_url: str,
        cancel_url: str,
    ) -> Redirect:
        assert plan.stripe_price is not None
        # The metadata lets webhooks name the organization and plan even when their events
        # arrive before `checkout.session.completed` has linked the subscription.
        metadata = {"org_id": str(org_id), "plan": plan.key}
        price = plan.stripe_price
        session = await self._run(
            "create_checkout",
            lambda client: client.v1.checkout.sessions.create(
                {
                    "mode": "subscription",
                    "customer": customer,
                    "client_reference_id": str(org_id),
                    "line_items": [{"price": price, "quantity": seats}],
                    "subscription_data": {"metadata": metadata},
                    "metadata": {**metadata, "seats": str(seats)},
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                }
            ),
        )
        if not session.url:
            raise PaymentProviderError("Stripe returned a checkout session without a URL.")
        return Redirect(session.id, session.url)

    async def create_portal(self, *, customer: str, return_url: str) -> Redirect:
        session = await self._run(
            "create_portal",
            lambda client: client.v1.billing_portal.sessions.create(
                {"customer": customer, "return_url": return_url}
            ),
        )
        return Redirect(session.id, session.url)
