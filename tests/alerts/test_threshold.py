"""Threshold rules over telemetry that went through the real broker and ingest.

Proves: a metric condition held for less than the rule's duration (measured on sample
timestamps) is only a hidden `pending` row — nothing in the API, nothing sent; once held for the
duration exactly one alert opens and notifies; more bad samples and repeated evaluations keep
that one alert (same id, same timestamps, one notification); a recovered sample resolves it
with a recovery notice — and a recovery notice is sent only for an alert whose opening was
notified. Also the other sample rules: battery low while not charging (plugging in clears it)
and an overflowing agent spool (cleared by the next normal sample).
"""

from __future__ import annotations

import time
from uuid import UUID

import httpx

from sentinel.config import Settings
from tests.alerts.support import (
    AlertOrg,
    Engine,
    at,
    call,
    cpu_rule,
    cpu_samples,
    create_rule,
    create_webhook,
    list_alerts,
    new_device,
    new_org,
    online,
    receiver,
    utc,
)


async def test_fires_after_duration_once_and_resolves_with_recovery_notice(
    https: httpx.Client, settings: Settings, engine: Engine
) -> None:
    org = new_org(https)
    device = new_device(https, org, "lab-cpu-01")
    with receiver() as hook, online(settings, device) as agent:
        channel, hook.secret = create_webhook(https, org, hook.url)
        rule = cpu_rule(https, org, device, 120, name="CPU saturated", severity="critical")
        base = time.time() - 240

        # 60 s of CPU > 90: less than the 120 s duration.
        await agent.send(cpu_samples(base, (0, 0, 99), (1, 30, 98), (2, 60, 97)))
        await engine.evaluate(org)
        rows = await engine.alerts(org, rule["id"])
        assert [(r["state"], r["since"], r["opened_at"]) for r in rows] == [
            ("pending", utc(base), None)
        ]
        assert list_alerts(https, org) == []
        assert await engine.notifications(org, channel["id"]) == []

        # 130 s: held for the duration → exactly one open alert.
        await agent.send(cpu_samples(base, (3, 130, 96)))
        await engine.evaluate(org)
        (opened,) = list_alerts(https, org, "open")
        assert opened["rule_id"] == rule["id"] and opened["device_id"] == device.device_id
        assert opened["device_name"] == "lab-cpu-01"
        assert opened["severity"] == "critical" and opened["value"] == 96
        assert at(opened["since"]) == utc(base)
        await engine.dispatch(org)
        (first,) = await hook.await_hits(1)
        assert first.verified and first.json["type"] == "alert.opened"
        assert first.json["alert"]["id"] == opened["id"]

        # More bad samples and repeated evaluations: still that one alert, one notification.
        await agent.send(cpu_samples(base, (4, 160, 99), (5, 190, 95)))
        for _ in range(3):
            await engine.evaluate(org)
        rows = await engine.alerts(org, rule["id"])
        assert [(str(r["id"]), r["state"]) for r in rows] == [(opened["id"], "open")]
        (still,) = list_alerts(https, org)
        assert still["opened_at"] == opened["opened_at"] and still["since"] == opened["since"]
        assert still["value"] == 95  # the latest sample's value
        assert [n["kind"] for n in await engine.notifications(org, channel["id"])] == ["alert"]

        # Recovery: one good sample resolves it, with a recovery notice (it had notified).
        await agent.send(cpu_samples(base, (6, 220, 20)))
        await engine.evaluate(org)
        assert list_alerts(https, org, "open", "acknowledged") == []
        (resolved,) = list_alerts(https, org, "resolved")
        assert resolved["id"] == opened["id"] and resolved["resolved_at"] is not None
        assert resolved["resolved_by"] is None  # by the engine, not a person
        await engine.dispatch(org)
        hits = await hook.await_hits(2)
        assert [h.json["type"] for h in hits] == ["alert.opened", "alert.resolved"]
        assert all(h.verified for h in hits)
        assert hits[1].json["alert"]["state"] == "resolved"

        # Evaluating again changes nothing and sends nothing.
        await engine.evaluate(org)
        kinds = [n["kind"] for n in await engine.notifications(org, channel["id"])]
        assert kinds == ["alert", "recovery"]
        assert len(await engine.alerts(org, rule["id"])) == 1


async def test_recovery_notice_only_when_the_opening_was_notified(
    https: httpx.Client, settings: Settings, engine: Engine
) -> None:
    org = new_org(https)
    device = new_device(https, org)
    with receiver() as hook, online(settings, device) as agent:
        channel, hook.secret = create_webhook(https, org, hook.url)
        # Opens while the rule targets no channel (channel_ids = []): nobody was told.
        rule = cpu_rule(https, org, device, 0, channel_ids=[])
        base = time.time() - 60
        await agent.send(cpu_samples(base, (0, 0, 99)))
        await engine.evaluate(org)
        (opened,) = list_alerts(https, org, "open")
        assert opened["rule_id"] == rule["id"]
        assert [r["notified"] for r in await engine.alerts(org, rule["id"])] == [False]

        # The rule now targets the channel, yet the recovery of an unannounced alert is silent.
        patch = {"channel_ids": [channel["id"]]}
        call(https, org.owner, "PATCH", org.path(f"/alert-rules/{rule['id']}"), patch)
        await agent.send(cpu_samples(base, (1, 10, 5)))
        await engine.evaluate(org)
        (resolved,) = list_alerts(https, org, "resolved")
        assert resolved["id"] == opened["id"]
        await engine.dispatch(org)
        assert await engine.notifications(org, channel["id"]) == []
        assert hook.count() == 0

        # The next episode opens while targeted: it notifies, and so does its recovery.
        await agent.send(cpu_samples(base, (2, 20, 97)))
        await engine.evaluate(org)
        await agent.send(cpu_samples(base, (3, 30, 7)))
        await engine.evaluate(org)
        episodes = await engine.alerts(org, rule["id"])
        assert [(r["state"], r["notified"]) for r in episodes] == [
            ("resolved", False),
            ("resolved", True),
        ]
        notes = await engine.notifications(org, channel["id"])
        assert [(n["kind"], n["alert_id"]) for n in notes] == [
            ("alert", episodes[1]["id"]),
            ("recovery", episodes[1]["id"]),
        ]


async def _single_alert(engine: Engine, org: AlertOrg, rule_id: str) -> tuple[str, UUID]:
    (row,) = await engine.alerts(org, rule_id)
    return row["state"], row["device_id"]


async def test_battery_low_while_not_charging_and_spool_overflow_resolve(
    https: httpx.Client, settings: Settings, engine: Engine
) -> None:
    org = new_org(https)
    laptop = new_device(https, org)
    with online(settings, laptop) as agent:
        battery = create_rule(https, org, kind="battery_low", threshold=15, severity="warning")
        spool = create_rule(https, org, kind="spool_overflow", severity="info")
        base = time.time() - 120

        # Low but charging: nothing. Low and unplugged: open. Plugged in again: resolved.
        await agent.send([{"seq": 0, "ts": base, "battery_pct": 9.0, "charging": True}])
        await engine.evaluate(org)
        assert await engine.alerts(org, battery["id"]) == []
        await agent.send([{"seq": 1, "ts": base + 10, "battery_pct": 8.0, "charging": False}])
        await engine.evaluate(org)
        assert await _single_alert(engine, org, battery["id"]) == ("open", UUID(laptop.device_id))
        await agent.send([{"seq": 2, "ts": base + 20, "battery_pct": 8.5, "charging": True}])
        await engine.evaluate(org)
        assert await _single_alert(engine, org, battery["id"]) == (
            "resolved",
            UUID(laptop.device_id),
        )

        # The agent reports dropped samples once, in the next sample; the sample after is normal.
        await agent.send([{"seq": 3, "ts": base + 30, "spool_dropped": 250}])
        await engine.evaluate(org)
        assert await _single_alert(engine, org, spool["id"]) == ("open", UUID(laptop.device_id))
        await agent.send([{"seq": 4, "ts": base + 40, "cpu_pct": 3.0}])
        await engine.evaluate(org)
        assert await _single_alert(engine, org, spool["id"]) == ("resolved", UUID(laptop.device_id))
