"""Turning evaluation results into notifications and live events, per organization."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import redis.asyncio as redis

from sentinel.alerts import queries, schedule
from sentinel.alerts.evaluate import Transitions, evaluate
from sentinel.db.tenancy import Tenant, TenantRouter
from sentinel.live.events import publish

WATERMARK_KEY = "alerts_watermark"


def alert_json(alert: asyncpg.Record, device_name: str | None = None) -> dict[str, Any]:
    return {
        "id": str(alert["id"]),
        "rule_id": str(alert["rule_id"]),
        "device_id": str(alert["device_id"]),
        "device_name": device_name,
        "severity": alert["severity"],
        "title": alert["title"],
        "value": alert["value"],
        "since": alert["since"],
        "opened_at": alert["opened_at"],
        "resolved_at": alert["resolved_at"],
        "state": alert["state"],
    }


async def _targets(conn: asyncpg.Connection, rule: asyncpg.Record) -> list[UUID]:
    enabled = [c["id"] for c in await queries.channels(conn, enabled_only=True)]
    chosen = rule["channel_ids"]
    return enabled if chosen is None else [c for c in enabled if c in set(chosen)]


async def _notify(
    conn: asyncpg.Connection, org_id: UUID, rule: asyncpg.Record, alert_id: UUID, kind: str
) -> bool:
    alert = await queries.alert_with_device(conn, alert_id)
    if alert is None:
        return False
    payload = {
        "type": kind,
        "org_id": str(org_id),
        "alert": alert_json(alert, alert["device_name"]),
    }
    targets = await _targets(conn, rule)
    for channel_id in targets:
        await queries.enqueue(
            conn, channel_id, "recovery" if kind == "alert.resolved" else "alert", alert_id, payload
        )
    return bool(targets)


async def run_evaluation(
    router: TenantRouter, cache: redis.Redis, tenant: Tenant, now: datetime | None = None
) -> Transitions:
    now = now or datetime.now(UTC)
    async with router.transaction(tenant) as conn:
        hours = schedule.load(await queries.get_setting(conn, schedule.SETTINGS_KEY))
        mark = await queries.get_setting(conn, WATERMARK_KEY)
        watermark = datetime.fromisoformat(mark) if isinstance(mark, str) else None
        result = await evaluate(conn, now, hours, watermark)
        rules = {r["id"]: r for r in await queries.rules(conn)}
        for rule, alert_id in result.opened:
            if await _notify(conn, tenant.org_id, rule, alert_id, "alert.opened"):
                await queries.mark_notified(conn, alert_id)
        for rule, alert_id in result.events:
            await _notify(conn, tenant.org_id, rule, alert_id, "alert.event")
        for alert in result.resolved:
            if alert["notified"] and alert["rule_id"] in rules:
                await _notify(
                    conn, tenant.org_id, rules[alert["rule_id"]], alert["id"], "alert.resolved"
                )
        await queries.put_setting(conn, WATERMARK_KEY, now.isoformat())
        if result.opened or result.events or result.resolved:
            await queries.wake_dispatcher(conn, tenant.org_id)
    for _, alert_id in result.opened:
        await publish(cache, tenant.org_id, "alert", alert_id=alert_id, state="open")
    for alert in result.resolved:
        await publish(cache, tenant.org_id, "alert", alert_id=alert["id"], state="resolved")
    return result
