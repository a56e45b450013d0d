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


Notice = tuple[asyncpg.Record, UUID, str]  # (rule, alert id, event type)


async def _enqueue(conn: asyncpg.Connection, org_id: UUID, notices: list[Notice]) -> set[UUID]:
    """Queue each notice for its rule's enabled channels (all of them when the rule names none),
    in one round of statements however many alerts changed; returns the alerts that were
    queued for at least one channel."""
    if not notices:
        return set()
    enabled = [c["id"] for c in await queries.channels(conn, enabled_only=True)]
    alerts = await queries.alerts_with_devices(conn, [alert_id for _, alert_id, _ in notices])
    rows: list[tuple[UUID, str, UUID, dict[str, Any]]] = []
    queued: set[UUID] = set()
    for rule, alert_id, kind in notices:
        alert = alerts.get(alert_id)
        if alert is None:
            continue
        chosen = rule["channel_ids"]
        targets = enabled if chosen is None else [c for c in enabled if c in set(chosen)]
        payload = {
            "type": kind,
            "org_id": str(org_id),
            "alert": alert_json(alert, alert["device_name"]),
        }
        notification = "recovery" if kind == "alert.resolved" else "alert"
        rows.extend((channel_id, notification, alert_id, payload) for channel_id in targets)
        if targets:
            queued.add(alert_id)
    await queries.enqueue_many(conn, rows)
    return queued


async def run_evaluation(
    router: TenantRouter, cache: redis.Redis, tenant: Tenant, now: datetime | None = None
) -> Transitions:
    now = now or datetime.now(UTC)
    async with router.transaction(tenant) as conn:
        await queries.lock_evaluation(conn, tenant.org_id)
        hours = schedule.load(await queries.get_setting(conn, schedule.SETTINGS_KEY))
        mark = await queries.get_setting(conn, WATERMARK_KEY)
        watermark = datetime.fromisoformat(mark) if isinstance(mark, str) else None
        result = await evaluate(conn, now, hours, watermark)
        rules = {r["id"]: r for r in await queries.rules(conn)}
        opened = [(rule, alert_id, "alert.opened") for rule, alert_id in result.opened]
        await queries.mark_notified(conn, list(await _enqueue(conn, tenant.org_id, opened)))
        events = [(rule, alert_id, "alert.event") for rule, alert_id in result.events]
        await _enqueue(conn, tenant.org_id, events)
        # A recovery notice only for an alert whose opening was notified.
        recovered = [
            (rules[a["rule_id"]], a["id"], "alert.resolved")
            for a in result.resolved
            if a["notified"] and a["rule_id"] in rules
        ]
        await _enqueue(conn, tenant.org_id, recovered)
        if watermark is None or now > watermark:  # never back: events would be repeated
            await queries.put_setting(conn, WATERMARK_KEY, now.isoformat())
        if result.opened or result.events or result.resolved:
            await queries.wake_dispatcher(conn, tenant.org_id)
    for _, alert_id in result.opened:
        await publish(cache, tenant.org_id, "alert", alert_id=alert_id, state="open")
    for alert in result.resolved:
        await publish(cache, tenant.org_id, "alert", alert_id=alert["id"], state="resolved")
    return result
