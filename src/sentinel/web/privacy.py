"""Privacy: what devices report (user names, IP addresses), the telemetry interval bounds and
how long data is kept — editable by owners only (`PUT /api/v1/orgs/{org}/privacy`) — the
oldest data held per category with the retention cutoffs, and data exports for owners and
admins (`POST …/exports`, then a one-time download link).

The retention panel is an htmx fragment of this page, refreshed after a change."""

from __future__ import annotations

from fastapi import Request, Response

from sentinel.api.deps import Res
from sentinel.privacy import service as privacy_service
from sentinel.web import layout
from sentinel.web.access import OrgRead
from sentinel.web.rendering import render, wants_fragment

HELD_ID = "privacy-held"
CATEGORIES = (
    ("telemetry", "Telemetry (metrics)"),
    ("inventory", "Inventory"),
    ("alerts", "Alerts"),
    ("audit_log", "Audit log"),
)


async def page(request: Request, ctx: OrgRead, res: Res) -> Response:
    privacy = await privacy_service.get_privacy(res, ctx)
    held = {"privacy": privacy, "categories": CATEGORIES}
    if wants_fragment(request, HELD_ID):
        return render(request, "_privacy_held.html", {"org": {"id": ctx.org_id}, **held})
    context = await layout.in_org(res, ctx, "privacy")
    context.update(held)
    return render(request, "privacy.html", context)
