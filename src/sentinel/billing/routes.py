"""`/api/v1/orgs/{org_id}/billing*` and Stripe's webhook `/api/v1/billing/stripe/webhook`.

Every billing endpoint counts against the `billing` rate limit (10/min): people per user, and
before the organization guard, so refused attempts count too; the webhook per organization,
after its signature is verified.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request

from sentinel.api.deps import Res
from sentinel.auth.principal import CurrentUser
from sentinel.authz.guard import OrgContext, require
from sentinel.authz.permissions import Permission
from sentinel.billing import service, webhooks
from sentinel.billing.errors import WebhookTooLarge
from sentinel.billing.schemas import (
    BillingView,
    CheckoutRequest,
    PlanChoice,
    Redirect,
    WebhookReceipt,
)

router = APIRouter(prefix="/api/v1", tags=["billing"])

BillingRead = Annotated[OrgContext, require(Permission.BILLING_READ)]
BillingWrite = Annotated[OrgContext, require(Permission.BILLING_WRITE)]
# Stripe's events are a few kilobytes; anything near this is not one.
MAX_WEBHOOK_BYTES = 512 * 1024


async def _billing_limit(user: CurrentUser, res: Res) -> None:
    await res.limiter.enforce("billing", f"user:{user.user_id}")


Limited = [Depends(_billing_limit)]


@router.get("/orgs/{org_id}/billing", response_model=BillingView, dependencies=Limited)
async def get_billing(ctx: BillingRead, res: Res) -> Any:
    return await service.view(res, ctx)


@router.put("/orgs/{org_id}/billing/plan", response_model=BillingView, dependencies=Limited)
async def choose_plan(body: PlanChoice, ctx: BillingWrite, res: Res) -> Any:
    return await service.choose_plan(res, ctx, body.plan)


@router.post("/orgs/{org_id}/billing/checkout", response_model=Redirect, dependencies=Limited)
async def start_checkout(body: CheckoutRequest, ctx: BillingWrite, res: Res) -> Any:
    return await service.start_checkout(res, ctx, body.plan, body.seats)


@router.post("/orgs/{org_id}/billing/portal", response_model=Redirect, dependencies=Limited)
async def open_portal(ctx: BillingWrite, res: Res) -> Any:
    return await service.open_portal(res, ctx)


@router.post("/billing/stripe/webhook", response_model=WebhookReceipt)
async def stripe_webhook(
    request: Request,
    res: Res,
    stripe_signature: Annotated[str | None, Header()] = None,
) -> Any:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
        raise WebhookTooLarge()
    payload = await request.body()
    if len(payload) > MAX_WEBHOOK_BYTES:
        raise WebhookTooLarge()
    return await webhooks.handle(res, payload, stripe_signature)
