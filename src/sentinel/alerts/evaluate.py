"""Rule evaluation: deterministic from stored state, so duplicate or replayed telemetry can
never change an alert (the same rows give the same answer), and at most one active alert
exists per (rule, device) (a unique index backs this).

Lifecycle: a condition first seen becomes a hidden `pending` alert; once it has held for the
rule's duration (measured on sample timestamps) it opens and notifies; when a later sample shows
it cleared it resolves, with a recovery notice only if the opening was notified.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from sentinel.alerts import queries
from sentinel.alerts.schedule import SchoolHours
from sentinel.telemetry.queries import NUMERIC_METRICS

# kind → (condition over a sample, the value shown); `$T` is the rule's threshold.
# The agent reports dropped samples once, in the next sample, and ingest stores the count only
# when it is not zero: a sample without it dropped nothing (0), which clears the condition.
CONDITIONS: dict[str, tuple[str, str]] = {
    "battery_low": ("value < $T AND NOT coalesce(charging, false)", "battery_pct"),
    "spool_overflow": ("value > 0", "coalesce((extra->>'spool_dropped')::float8, 0)"),
}
LOOKBACK_MARGIN_S = 300.0


def metric_condition(rule: asyncpg.Record) -> tuple[str, str]:
    if rule["kind"] == "metric_threshold":
        metric, operator = rule["metric"], rule["operator"]
        if metric not in NUMERIC_METRICS or operator not in (">", "<"):
            raise ValueError(f"rule {rule['id']} has an invalid metric or operator")
        return f"value {operator} $T", metric
    return CONDITIONS[rule["kind"]]


def title(rule: asyncpg.Record, device_name: str | None = None) -> str:
    return f"{rule['name']}" + (f" — {device_name}" if device_name else "")


@dataclass
class Transitions:
    opened: list[tuple[asyncpg.Record, UUID]] = field(default_factory=list)  # (rule, alert id)
    resolved: list[asyncpg.Record] = field(default_factory=list)  # alert rows
    events: list[tuple[asyncpg.Record, UUID]] = field(default_factory=list)  # info, auto-resolved


async def evaluate(
    conn: asyncpg.Connection, now: datetime, hours: SchoolHours, watermark: datetime | None
) -> Transitions:
    """Evaluate every enabled rule of the organization (inside its tenant transaction)."""
    result = Transitions()
    rules = await queries.rules(conn, enabled_only=True)
    for rule in rules:
        devices = await queries.scope_devices(conn, rule["scope_type"], rule["scope_id"])
        if not devices:
            continue
        if rule["kind"] in ("metric_threshold", "battery_low", "spool_overflow"):
            await _samples_rule(conn, rule, devices, now, result)
        elif rule["kind"] == "offline":
            await _offline_rule(conn, rule, devices, now, hours, result, rules)
        elif rule["kind"] == "new_device":
            since = max(watermark or rule["created_at"], rule["created_at"])
            for device in await queries.enrolled_since(conn, devices, since):
                alert_id = uuid.uuid4()
                if await queries.insert_alert(
                    conn,
                    alert_id,
                    rule["id"],
                    device["id"],
                    "resolved",
                    rule["severity"],
                    title(rule, device["name"]),
                    None,
                    device["enrolled_at"],
                    now,
                ):
                    result.events.append((rule, alert_id))
    return result


async def _samples_rule(
    conn: asyncpg.Connection,
    rule: asyncpg.Record,
    devices: list[UUID],
    now: datetime,
    result: Transitions,
) -> None:
    condition, present = metric_condition(rule)
    threshold = rule["threshold"]
    duration = float(rule["duration_s"])
    runs = await queries.bad_runs(
        conn, condition, present, devices, duration + LOOKBACK_MARGIN_S, now, threshold
    )
    active = await queries.active_alerts(conn, rule["id"])
    for device_id, run in runs.items():
        held = (run["latest"] - run["since"]).total_seconds() >= duration
        await _condition_present(
            conn,
            rule,
            device_id,
            active.get(device_id),
            run["since"],
            run["value"],
            held,
            now,
            result,
        )
    for device_id, alert in active.items():
        if device_id in runs:
            continue
        if alert["state"] == "pending":
            await queries.drop_pending(conn, alert["id"])
        elif await queries.recovered(
            conn, device_id, condition, present, alert["since"], threshold
        ):
            resolved = await queries.resolve(conn, alert["id"], None, now)
            if resolved is not None:
                result.resolved.append(resolved)


async def _condition_present(
    conn: asyncpg.Connection,
    rule: asyncpg.Record,
    device_id: UUID,
    alert: asyncpg.Record | None,
    since: datetime,
    value: Any,
    held: bool,
    now: datetime,
    result: Transitions,
) -> None:
    if alert is None:
        alert_id = uuid.uuid4()
        inserted = await queries.insert_alert(
            conn,
            alert_id,
            rule["id"],
            device_id,
            "open" if held else "pending",
            rule["severity"],
            title(rule),
            value,
            since,
            now,
        )
        if inserted and held:
            result.opened.append((rule, alert_id))
    elif alert["state"] == "pending" and held:
        if await queries.open_pending(conn, alert["id"], value, since, now):
            result.opened.append((rule, alert["id"]))
    elif alert["value"] != value:
        await queries.update_value(conn, alert["id"], value)


async def _offline_rule(
    conn: asyncpg.Connection,
    rule: asyncpg.Record,
    devices: list[UUID],
    now: datetime,
    hours: SchoolHours,
    result: Transitions,
    rules: list[asyncpg.Record],
) -> None:
    """Set-at-a-time: a whole school going offline (a power cut) is a few statements."""
    active = await queries.active_alerts(conn, rule["id"])
    duration = float(rule["duration_s"])
    offline = await queries.offline_devices(conn, devices, duration, now)
    school = bool(rule["respect_school_hours"])
    if hours.contains(now) or not school:
        # With school hours, only offline time inside them counts: a laptop switched off in the
        # evening has not been "offline for 30 minutes" at 08:00 the next morning.
        due = [
            (device_id, row["since"], None)
            for device_id, row in offline.items()
            if device_id not in active
            and (not school or hours.seconds_within(row["since"], now, duration) >= duration)
        ]
        opened = await queries.insert_alerts(
            conn, rule["id"], "open", rule["severity"], title(rule), due, now
        )
        result.opened.extend((rule, alert_id) for alert_id in opened)
    back = await queries.online_devices(conn, [d for d in active if d not in offline])
    resolved = await queries.resolve_many(conn, [active[d]["id"] for d in back], now)
    result.resolved.extend(resolved)
    returned = {row["device_id"] for row in resolved}
    for back_rule in (r for r in rules if r["kind"] == "back_online"):
        covered = returned & set(
            await queries.scope_devices(conn, back_rule["scope_type"], back_rule["scope_id"])
        )
        events = await queries.insert_alerts(
            conn,
            back_rule["id"],
            "resolved",
            back_rule["severity"],
            title(back_rule),
            [(device_id, now, None) for device_id in covered],
            now,
        )
        result.events.extend((back_rule, alert_id) for alert_id in events)
