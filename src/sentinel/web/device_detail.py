"""One device: state (live), charts, inventory and installed software, commands and their
results, credential actions, and the device's own audit trail.

The charts read `GET /api/v1/orgs/{org}/devices/{id}/telemetry` and then follow the live feed
(`static/js/charts.js`); this page renders everything else.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import Request, Response

from sentinel.api.deps import Res
from sentinel.api.resources import Resources
from sentinel.audit import queries as audit_queries
from sentinel.authz.guard import OrgContext
from sentinel.authz.permissions import Permission, allowed
from sentinel.commands import service as command_service
from sentinel.devices import service as device_service
from sentinel.web import layout
from sentinel.web.access import DevicesRead
from sentinel.web.devices import STATUSES, presence
from sentinel.web.rendering import render

COMMANDS = (
    ("ping", "Check that the agent answers (ping)"),
    ("refresh_inventory", "Collect the inventory again"),
    ("show_message", "Show a message on the screen"),
    ("restart_agent", "Restart the agent"),
    ("reboot", "Restart the computer"),
    ("shutdown", "Shut the computer down"),
)
RANGES = (
    ("live", "Live"),
    ("1h", "1 hour"),
    ("24h", "24 hours"),
    ("7d", "7 days"),
    ("30d", "30 days"),
)
CHARTS = (
    ("cpu", "CPU"),
    ("memory", "Memory"),
    ("disk", "Disk"),
    ("battery", "Battery"),
    ("network", "Network"),
)
RECENT_COMMANDS = 20
TRAIL_ENTRIES = 50


async def device_trail(
    res: Resources, ctx: OrgContext, device_id: UUID
) -> list[dict[str, Any]] | None:
    """The audit entries about this device; None when the role may not read the audit log."""
    if not allowed(ctx.role, Permission.AUDIT_READ):
        return None
    async with res.router.transaction(ctx.tenant) as conn:
        rows = await audit_queries.list_entries(
            conn,
            before_id=None,
            limit=TRAIL_ENTRIES,
            action=None,
            actor_id=None,
            target_type="device",
            target_id=str(device_id),
            since=None,
            until=None,
        )
    return [dict(row) for row in rows]


def _inventory(device: dict[str, Any]) -> dict[str, Any]:
    inventory = dict(device.get("inventory") or {})
    software = inventory.pop("software", None) or []
    inventory["software"] = sorted(software, key=lambda s: str(s.get("name", "")).lower())
    return inventory


async def page(request: Request, device_id: UUID, ctx: DevicesRead, res: Res) -> Response:
    device = await device_service.get_device(res, ctx, device_id)
    groups = await device_service.list_groups(res, ctx)
    group = next((g for g in groups if g["id"] == device["group_id"]), None)
    state = presence(device)
    context = await layout.in_org(res, ctx, "devices")
    context.update(
        device=device,
        presence=state,
        presence_label=STATUSES[state],
        group=group,
        groups=groups,
        metrics=device.get("latest") or {},
        inventory=_inventory(device),
        commands=await command_service.list_for_device(res, ctx, device_id, RECENT_COMMANDS),
        command_choices=COMMANDS,
        trail=await device_trail(res, ctx, device_id),
        ranges=RANGES,
        charts=CHARTS,
    )
    return render(request, "device.html", context)


async def commands(request: Request, device_id: UUID, ctx: DevicesRead, res: Res) -> Response:
    """The command list alone, refreshed when a result arrives or a command is sent."""
    rows = await command_service.list_for_device(res, ctx, device_id, RECENT_COMMANDS)
    context = {"org": {"id": ctx.org_id}, "device": {"id": device_id}, "commands": rows}
    return render(request, "_commands.html", context)
