"""Command rules: an allow-list checked on the server as well as on the device; reboot and
shutdown only where the organization enabled them; every command audit-logged."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sentinel.api.problems import NotFound, Problem
from sentinel.api.resources import Resources
from sentinel.audit.service import record
from sentinel.authz.guard import OrgContext
from sentinel.commands import queries
from sentinel.devices import queries as device_queries
from sentinel.devices.agent_config import agent_config

# Each allowed command and the arguments it takes. Nothing else is accepted: arguments are
# relayed to the device, and a message over the broker's packet limit would get the worker's
# own connection dropped — and resent, and dropped — on every reconnect.
ARGUMENTS: dict[str, frozenset[str]] = {
    "ping": frozenset(),
    "refresh_inventory": frozenset(),
    "show_message": frozenset({"text"}),
    "restart_agent": frozenset(),
    "reboot": frozenset(),
    "shutdown": frozenset(),
}
ALLOWED = frozenset(ARGUMENTS)
NOTIFY_CHANNEL = "sentinel_commands"


class CommandNotAllowed(Problem):
    status = 422
    code = "command_not_allowed"
    title = "This command is not allowed"


async def create(
    res: Resources,
    ctx: OrgContext,
    device_id: UUID,
    name: str,
    args: dict[str, Any],
    expires_in: int,
) -> dict[str, Any]:
    if name not in ALLOWED:
        raise CommandNotAllowed(f"Allowed commands: {', '.join(sorted(ALLOWED))}.")
    unexpected = sorted(set(args) - ARGUMENTS[name])
    if unexpected:
        raise CommandNotAllowed(
            f"{name} does not take {', '.join(a[:50] for a in unexpected[:10])}.",
            accepted=sorted(ARGUMENTS[name]),
        )
    if name == "show_message" and not (
        isinstance(args.get("text"), str) and 0 < len(args["text"]) <= 500
    ):
        raise CommandNotAllowed("show_message needs args.text of 1..500 characters.")
    async with res.router.transaction(ctx.tenant) as conn:
        device = await device_queries.device(conn, device_id)
        if device is None:
            raise NotFound("No such device.")
        if device["status"] != "active":
            raise CommandNotAllowed("The device is revoked or decommissioned.")
        if name in ("reboot", "shutdown"):
            policy = await agent_config(conn, res.settings)
            if not policy.get(f"allow_{name}"):
                raise CommandNotAllowed(f"Enable {name} in the organization's agent settings.")
        expires = datetime.now(UTC) + timedelta(seconds=expires_in)
        row = await queries.insert(
            conn, uuid.uuid4(), device_id, name, args, str(ctx.principal.user_id), expires
        )
        await record(
            conn,
            ctx.actor,
            "command.created",
            target_type="device",
            target_id=str(device_id),
            after={"command": name, "args": args, "id": str(row["id"])},
        )
        await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(ctx.org_id))
    return dict(row)


async def list_for_device(
    res: Resources, ctx: OrgContext, device_id: UUID, limit: int
) -> list[dict[str, Any]]:
    async with res.router.transaction(ctx.tenant) as conn:
        if await device_queries.device(conn, device_id) is None:
            raise NotFound("No such device.")
        return [dict(r) for r in await queries.for_device(conn, device_id, limit)]
