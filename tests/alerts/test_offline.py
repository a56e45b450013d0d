"""Offline rules and school hours, with explicit evaluation times in a chosen time zone.

The organization's school hours (set through the API) are 08:00 to 16:00 Asia/Tokyo on two
weekdays, with one of those days a holiday; today and the days around it are holidays too, so
the stack's own worker (evaluating at the real time) never opens anything here. Devices go
offline through the real broker and ingest, their last sample at chosen past times.

Proves: an offline rule (10 minutes) fires only once a device has been offline that long inside
school hours; it stays quiet after school, in the evening (inside 08:00 to 16:00 UTC but not
Tokyo time), on a holiday and on an unscheduled weekday; the time a device spent switched off
outside school hours does not count (a laptop switched off in the evening does not alert the
moment school starts, only 10 minutes later); each device alerts once however often it is
evaluated; and the alert resolves when the device comes back.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from sentinel.alerts.schedule import DAYS
from sentinel.config import Settings
from tests.alerts.support import (
    AlertOrg,
    Engine,
    apublish,
    at,
    call,
    create_rule,
    go_offline,
    list_alerts,
    new_device,
    new_org,
    until,
)

TOKYO = ZoneInfo("Asia/Tokyo")
SPAN = [["08:00", "16:00"]]


def tokyo(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=TOKYO).astimezone(UTC)


async def _open_devices(engine: Engine, org: AlertOrg, rule_id: str) -> dict[str, datetime]:
    rows = await engine.alerts(org, rule_id)
    return {str(r["device_id"]): r["since"] for r in rows if r["state"] == "open"}


async def test_offline_rule_respects_school_hours_and_resolves(
    https: httpx.Client, settings: Settings, engine: Engine
) -> None:
    org = new_org(https)
    today = datetime.now(TOKYO).date()
    day = today - timedelta(days=14)  # same weekday as today, two weeks ago
    hours = {
        "timezone": "Asia/Tokyo",
        "weekly": {DAYS[day.weekday()]: SPAN, DAYS[(day.weekday() + 1) % 7]: SPAN},
        "holidays": [
            str(d) for d in (day + timedelta(days=1), *(today + timedelta(n) for n in (-1, 0, 1)))
        ],
    }
    saved = call(https, org.owner, "PUT", org.path("/school-hours"), hours)
    assert call(https, org.owner, "GET", org.path("/school-hours")) == saved
    rule = create_rule(
        https, org, kind="offline", duration_s=600, respect_school_hours=True, severity="warning"
    )

    morning, afternoon, evening = (new_device(https, org) for _ in range(3))
    for device, last_seen in (
        (morning, tokyo(day, 9, 0)),  # went off during lessons
        (afternoon, tokyo(day, 15, 45)),  # a quarter of an hour before school ended
        (evening, tokyo(day, 16, 30)),  # switched off after school
    ):
        await asyncio.to_thread(go_offline, settings, device, last_seen.timestamp())
    ids = {d.device_id for d in (morning, afternoon, evening)}

    async def all_offline() -> bool:
        rows = await engine.fetch(
            org, "SELECT id FROM devices WHERE NOT online AND last_seen_at IS NOT NULL"
        )
        return {str(r["id"]) for r in rows} == ids

    await until(all_offline, what="three devices offline")

    async def evaluate_at(moment: datetime) -> dict[str, datetime]:
        await engine.evaluate(org, now=moment)
        return await _open_devices(engine, org, rule["id"])

    # Five minutes offline during lessons: not yet. Ten: the alert opens, since it went off.
    assert await evaluate_at(tokyo(day, 9, 5)) == {}
    assert await evaluate_at(tokyo(day, 9, 10, 1)) == {morning.device_id: tokyo(day, 9, 0)}

    # After school, in the evening (11:00 UTC), on the holiday, on an unscheduled weekday.
    for moment in (
        tokyo(day, 16, 40),
        tokyo(day, 20, 0),
        tokyo(day + timedelta(days=1), 10, 0),
        tokyo(day + timedelta(days=2), 10, 0),
    ):
        assert await evaluate_at(moment) == {morning.device_id: tokyo(day, 9, 0)}, moment

    # A week later, five minutes into school: the device that went off a quarter of an hour
    # before the end of school has been offline 20 school minutes; the one switched off in the
    # evening only 5. Ten minutes in, that one alerts too.
    next_week = day + timedelta(days=7)
    assert set(await evaluate_at(tokyo(next_week, 8, 5))) == {
        morning.device_id,
        afternoon.device_id,
    }
    assert await evaluate_at(tokyo(next_week, 8, 10, 1)) == {
        morning.device_id: tokyo(day, 9, 0),
        afternoon.device_id: tokyo(day, 15, 45),
        evening.device_id: tokyo(day, 16, 30),
    }
    for moment in (tokyo(next_week, 9, 0), tokyo(next_week, 15, 0)):
        await engine.evaluate(org, now=moment)
    rows = await engine.alerts(org, rule["id"])
    assert sorted(str(r["device_id"]) for r in rows) == sorted(ids)  # once per device
    listed = list_alerts(https, org, "open")
    assert {a["device_id"] for a in listed} == ids
    assert all(at(a["opened_at"]) <= tokyo(next_week, 8, 10, 1) for a in listed)

    # The morning device comes back: its alert resolves; the others stay open.
    await apublish(settings, morning, [{"seq": 2, "ts": time.time(), "cpu_pct": 4.0}])
    await engine.evaluate(org)
    assert set(await _open_devices(engine, org, rule["id"])) == {
        afternoon.device_id,
        evening.device_id,
    }
    (resolved,) = list_alerts(https, org, "resolved")
    assert resolved["device_id"] == morning.device_id and resolved["resolved_at"] is not None
