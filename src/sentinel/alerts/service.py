"""Alert API rules: rules and channels (admin and owner), acknowledge/resolve, school hours;
readonly members can view everything and change nothing (enforced by the route guard)."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import ValidationError

from sentinel.alerts import queries, schedule
from sentinel.alerts.notify import DeliveryError, deliver
from sentinel.alerts.schemas import ChannelCreate, ChannelUpdate, RuleFields, RuleUpdate
from sentinel.api.problems import Conflict, NotFound, Problem
from sentinel.api.resources import Resources
from sentinel.audit.service import record
from sentinel.authz.guard import OrgContext
from sentinel.devices import queries as device_queries


class InvalidRule(Problem):
    status = 422
    code = "validation_failed"
    title = "Invalid request"


class InvalidChannel(Problem):
    status = 422
    code = "invalid_channel"
    title = "This notification channel cannot be used"


def _check_webhook_url(url: str, production: bool) -> None:
    """In production a webhook must be HTTPS to a public address (no SSRF into the server's
    own network); locally, loopback receivers are allowed for development."""
    parts = urlsplit(url)
    if not production:
        return
    if parts.scheme != "https":
        raise InvalidChannel("Webhooks must use https.")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname or "", None)}
    except OSError:
        raise InvalidChannel("The webhook host does not resolve.") from None
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if not ip.is_global:
            raise InvalidChannel("Webhooks must point at a public address.")


# --- rules -------------------------------------------------------------------------------------


async def list_rules(res: Resources, ctx: OrgContext) -> list[dict[str, Any]]:
    async with res.router.transaction(ctx.tenant) as conn:
        return [dict(r) for r in await queries.rules(conn)]


async def _check_scope(conn: Any, scope_type: str, scope_id: UUID | None) -> None:
    if scope_type == "group" and (
        scope_id is None or await device_queries.group(conn, scope_id) is None
    ):
        raise NotFound("No such device group.")
    if scope_type == "device" and (
        scope_id is None or await device_queries.device(conn, scope_id) is None
    ):
        raise NotFound("No such device.")


def _check_rule(merged: dict[str, Any]) -> None:
    """The rule a PATCH would leave must be as valid as a new one (an offline rule of 30 s, a
    threshold rule without a threshold)."""
    try:
        RuleFields.model_validate(merged)
    except ValidationError as exc:
        errors = [
            {"loc": ["body", *e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        raise InvalidRule("The rule would not be valid.", errors=errors) from None


async def create_rule(res: Resources, ctx: OrgContext, body: RuleFields) -> dict[str, Any]:
    fields = body.model_dump()
    async with res.router.transaction(ctx.tenant) as conn:
        await _check_scope(conn, body.scope_type, body.scope_id)
        row = await queries.insert_rule(conn, uuid.uuid4(), fields)
        await record(
            conn,
            ctx.actor,
            "alert_rule.created",
            target_type="alert_rule",
            target_id=str(row["id"]),
            after=fields,
        )
    return dict(row)


async def update_rule(
    res: Resources, ctx: OrgContext, rule_id: UUID, body: RuleUpdate
) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True)
    async with res.router.transaction(ctx.tenant) as conn:
        before = await queries.rule(conn, rule_id)
        if before is None:
            raise NotFound("No such alert rule.")
        if not fields:
            return dict(before)
        _check_rule({**{k: before[k] for k in RuleFields.model_fields}, **fields})
        row = await queries.update_rule(conn, rule_id, fields)
        assert row is not None
        await record(
            conn,
            ctx.actor,
            "alert_rule.updated",
            target_type="alert_rule",
            target_id=str(rule_id),
            before={k: before[k] for k in fields},
            after=fields,
        )
    return dict(row)


async def delete_rule(res: Resources, ctx: OrgContext, rule_id: UUID) -> None:
    async with res.router.transaction(ctx.tenant) as conn:
        before = await queries.rule(conn, rule_id)
        if before is None or not await queries.delete_rule(conn, rule_id):
            raise NotFound("No such alert rule.")
        await record(
            conn,
            ctx.actor,
            "alert_rule.deleted",
            target_type="alert_rule",
            target_id=str(rule_id),
            before={"name": before["name"]},
        )


# --- alerts ------------------------------------------------------------------------------------


async def list_alerts(
    res: Resources,
    ctx: OrgContext,
    states: list[str],
    device_id: UUID | None,
    rule_id: UUID | None,
    before: datetime | None,
    limit: int,
) -> list[dict[str, Any]]:
    async with res.router.transaction(ctx.tenant) as conn:
        rows = await queries.list_alerts(
            conn, states=states, device_id=device_id, rule_id=rule_id, before=before, limit=limit
        )
    return [dict(r) for r in rows]


async def acknowledge(res: Resources, ctx: OrgContext, alert_id: UUID) -> dict[str, Any]:
    async with res.router.transaction(ctx.tenant) as conn:
        if await queries.alert(conn, alert_id) is None:
            raise NotFound("No such alert.")
        row = await queries.acknowledge(conn, alert_id, str(ctx.principal.user_id))
        if row is None:
            raise Conflict("Only an open alert can be acknowledged.")
        await record(
            conn, ctx.actor, "alert.acknowledged", target_type="alert", target_id=str(alert_id)
        )
    return dict(row)


async def resolve(res: Resources, ctx: OrgContext, alert_id: UUID) -> dict[str, Any]:
    async with res.router.transaction(ctx.tenant) as conn:
        if await queries.alert(conn, alert_id) is None:
            raise NotFound("No such alert.")
        row = await queries.resolve(conn, alert_id, str(ctx.principal.user_id), datetime.now(UTC))
        if row is None:
            raise Conflict("This alert is already resolved.")
        await record(
            conn, ctx.actor, "alert.resolved", target_type="alert", target_id=str(alert_id)
        )
    return dict(row)


# --- channels ----------------------------------------------------------------------------------


async def list_channels(res: Resources, ctx: OrgContext) -> list[dict[str, Any]]:
    async with res.router.transaction(ctx.tenant) as conn:
        return [dict(r) for r in await queries.channels(conn)]


async def create_channel(res: Resources, ctx: OrgContext, body: ChannelCreate) -> dict[str, Any]:
    config = body.config.model_dump(mode="json")
    secret = None
    if body.kind == "webhook":
        _check_webhook_url(config["url"], res.settings.mode == "production")
        secret = "whsec_" + secrets.token_urlsafe(32)
    async with res.router.transaction(ctx.tenant) as conn:
        row = await queries.insert_channel(
            conn, uuid.uuid4(), body.name, body.kind, config, secret, body.rate_per_minute
        )
        await record(
            conn,
            ctx.actor,
            "channel.created",
            target_type="channel",
            target_id=str(row["id"]),
            after={"name": body.name, "kind": body.kind, "config": config},
        )
    # The signing secret is shown once, here; receivers keep it to verify signatures.
    return {**dict(row), **({"signing_secret": secret} if secret else {})}


async def update_channel(
    res: Resources, ctx: OrgContext, channel_id: UUID, body: ChannelUpdate
) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True)
    async with res.router.transaction(ctx.tenant) as conn:
        before = await queries.channel(conn, channel_id)
        if before is None:
            raise NotFound("No such channel.")
        row = await queries.update_channel(conn, channel_id, fields) if fields else before
        assert row is not None
        await record(
            conn,
            ctx.actor,
            "channel.updated",
            target_type="channel",
            target_id=str(channel_id),
            before={k: before[k] for k in fields},
            after=fields,
        )
    return {k: v for k, v in dict(row).items() if k != "secret"}


async def delete_channel(res: Resources, ctx: OrgContext, channel_id: UUID) -> None:
    async with res.router.transaction(ctx.tenant) as conn:
        before = await queries.channel(conn, channel_id)
        if before is None or not await queries.delete_channel(conn, channel_id):
            raise NotFound("No such channel.")
        await record(
            conn,
            ctx.actor,
            "channel.deleted",
            target_type="channel",
            target_id=str(channel_id),
            before={"name": before["name"]},
        )


async def test_channel(res: Resources, ctx: OrgContext, channel_id: UUID) -> dict[str, Any]:
    """Send a test message right now and say how it went (recorded like any delivery).

    The attempt is recorded in the transaction that sends it, so the dispatcher never sees it
    as a due notification and sends it a second time while it is in flight.
    """
    async with res.router.transaction(ctx.tenant) as conn:
        channel = await queries.channel(conn, channel_id)
        if channel is None:
            raise NotFound("No such channel.")
        payload = {"type": "test", "org_id": str(ctx.org_id)}
        notification_id = await queries.enqueue(conn, channel_id, "test", None, payload)
        try:
            await deliver(res.settings, channel, payload, str(notification_id))
            outcome: dict[str, Any] = {"delivered": True}
        except DeliveryError as exc:
            outcome = {"delivered": False, "error": str(exc)}
        if outcome["delivered"]:
            await queries.mark_delivered(conn, [notification_id], None)
        else:
            await queries.mark_attempt_failed(conn, [notification_id], outcome["error"], 1)
        await record(
            conn,
            ctx.actor,
            "channel.tested",
            target_type="channel",
            target_id=str(channel_id),
            after=outcome,
        )
    return outcome


async def channel_deliveries(
    res: Resources, ctx: OrgContext, channel_id: UUID
) -> list[dict[str, Any]]:
    async with res.router.transaction(ctx.tenant) as conn:
        if await queries.channel(conn, channel_id) is None:
            raise NotFound("No such channel.")
        return [dict(r) for r in await queries.deliveries(conn, channel_id, 100)]


# --- school hours ------------------------------------------------------------------------------


async def get_school_hours(res: Resources, ctx: OrgContext) -> dict[str, Any]:
    async with res.router.transaction(ctx.tenant) as conn:
        hours = schedule.load(await queries.get_setting(conn, schedule.SETTINGS_KEY))
    return hours.model_dump(mode="json")


async def set_school_hours(
    res: Resources, ctx: OrgContext, hours: schedule.SchoolHours
) -> dict[str, Any]:
    value = hours.model_dump(mode="json")
    async with res.router.transaction(ctx.tenant) as conn:
        before = await queries.get_setting(conn, schedule.SETTINGS_KEY)
        await queries.put_setting(conn, schedule.SETTINGS_KEY, value)
        await record(
            conn,
            ctx.actor,
            "school_hours.updated",
            target_type="settings",
            target_id="school_hours",
            before=before,
            after=value,
        )
    return value
