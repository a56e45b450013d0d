"""The overview: device counts by state, fleet health tiles and OS versions (a fragment that
refreshes on live events), and recent activity (the audit log, then live events on top)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from sentinel.api.deps import Res
from sentinel.api.resources import Resources
from sentinel.audit import queries as audit_queries
from sentinel.authz.guard import OrgContext
from sentinel.authz.permissions import Permission, allowed
from sentinel.telemetry import queries as telemetry_queries
from sentinel.web import layout
from sentinel.web.access import DevicesRead
from sentinel.web.rendering import render

RECENT_ENTRIES = 12


async def fleet_summary(res: Resources, ctx: OrgContext) -> dict[str, Any]:
    async with res.router.transaction(ctx.tenant) as conn:
        counts = dict(await telemetry_queries.fleet_counts(conn))
        versions = [dict(row) for row in await telemetry_queries.os_versions(conn)]
    enrolled = sum(counts[k] for k in ("online", "offline", "never_seen"))
    return {
        "counts": counts,
        "enrolled": enrolled,
        "os_versions": versions,
        "os_total": sum(v["devices"] for v in versions),
    }


async def recent_activity(res: Resources, ctx: OrgContext) -> list[dict[str, Any]] | None:
    """The newest audit entries, or None when the role may not read the audit log."""
    if not allowed(ctx.role, Permission.AUDIT_READ):
        return None
    async with res.router.transaction(ctx.tenant) as conn:
        rows = await audit_queries.list_entries(
            conn,
            before_id=None,
            limit=RECENT_ENTRIES,
            action=None,
            actor_id=None,
            target_type=None,
            target_id=None,
            since=None,
            until=None,
        )
    return [dict(row) for row in rows]


async def page(request: Request, ctx: DevicesRead, res: Res) -> Response:
    context = await layout.in_org(res, ctx, "overview")
    context["summary"] = await fleet_summary(res, ctx)
    context["activity"] = await recent_activity(res, ctx)
    return render(request, "overview.html", context)


async def summary(request: Request, ctx: DevicesRead, res: Res) -> Response:
    """The tiles alone, for htmx to swap in when devices come and go."""
    context = {"org": {"id": ctx.org_id}, "summary": await fleet_summary(res, ctx)}
    return render(request, "_summary.html", context)
