"""Billing: the plan, seats used and available, the period, the status and warnings, and the
plans as the upgrade path. Only owners see controls: switching to a self-serve plan
(`PUT …/billing/plan`), and Stripe's checkout and portal when the API says they exist.

The view is the billing service's own (`GET /api/v1/orgs/{org}/billing` answers the same)."""

from __future__ import annotations

from fastapi import Request, Response

from sentinel.api.deps import Res
from sentinel.billing import service as billing_service
from sentinel.web import layout
from sentinel.web.access import BillingRead
from sentinel.web.rendering import render

STATUSES = {
    "active": "Active",
    "trialing": "Trial",
    "past_due": "Payment overdue",
    "unpaid": "Unpaid",
    "incomplete": "Payment incomplete",
    "paused": "Paused",
    "canceled": "Cancelled",
}


async def page(request: Request, ctx: BillingRead, res: Res) -> Response:
    billing = await billing_service.view(res, ctx)
    context = await layout.in_org(res, ctx, "billing")
    context.update(
        billing=billing,
        status_label=STATUSES.get(billing["status"], billing["status"]),
        # Both must agree: the role table (what the page may offer) and the service's answer.
        manage=context["can"]("billing:write") and billing["can_manage"],
    )
    return render(request, "billing.html", context)
