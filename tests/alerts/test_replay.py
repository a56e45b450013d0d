"""Duplicate and replayed telemetry never changes alert state.

Proves: resending exactly the samples that opened an alert (same seq and ts, as an agent does
when a receipt was lost), then evaluating again and again, leaves the same alert rows with the
same timestamps and values and enqueues no new notification; after the alert has resolved, a
replay of the old bad samples — and late samples never seen before but older than the recovery —
neither reopens it nor creates a new (even pending) alert. Evaluations running at the same
time (two workers, or the worker and a direct call) are serialized: five concurrent ones record
a newly enrolled device once and notify it once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from sentinel.config import Settings
from tests.alerts.support import (
    AlertOrg,
    Engine,
    call,
    cpu_rule,
    cpu_samples,
    create_webhook,
    list_alerts,
    new_device,
    new_org,
    online,
    receiver,
)


async def _state(engine: Engine, org: AlertOrg, rule_id: str, channel_id: str) -> Any:
    alerts = [tuple(r.values()) for r in await engine.alerts(org, rule_id)]
    notes = [
        (n["id"], n["kind"], n["alert_id"]) for n in await engine.notifications(org, channel_id)
    ]
    return alerts, notes


async def test_duplicate_and_replayed_samples_change_nothing(
    https: httpx.Client, settings: Settings, engine: Engine
) -> None:
    org = new_org(https)
    device = new_device(https, org)
    with receiver() as hook, online(settings, device) as agent:
        channel, hook.secret = create_webhook(https, org, hook.url)
        rule = cpu_rule(https, org, device, 60)
        base = time.time() - 200
        bad = cpu_samples(base, (10, 0, 95), (11, 30, 97), (12, 70, 99))
        await agent.send(bad)
        await engine.evaluate(org)
        (opened,) = list_alerts(https, org, "open")
        before = await _state(engine, org, rule["id"], channel["id"])
        assert len(before[0]) == 1 and [n[1] for n in before[1]] == ["alert"]

        # The same message again (a lost receipt), then the samples one by one, re-evaluated.
        await agent.send(bad)
        for sample in bad:
            await agent.send([sample])
        for _ in range(3):
            await engine.evaluate(org)
        assert await _state(engine, org, rule["id"], channel["id"]) == before
        assert list_alerts(https, org) == [opened]

        # Recovery, then the old bad samples are replayed and late ones arrive out of order.
        await agent.send(cpu_samples(base, (13, 100, 12)))
        await engine.evaluate(org)
        resolved = await _state(engine, org, rule["id"], channel["id"])
        assert [a[2] for a in resolved[0]] == ["resolved"]
        assert [n[1] for n in resolved[1]] == ["alert", "recovery"]
        await agent.send(bad)
        await agent.send(cpu_samples(base, (5, 80, 99), (6, 90, 98)))
        for _ in range(2):
            await engine.evaluate(org)
        assert await _state(engine, org, rule["id"], channel["id"]) == resolved
        (still,) = list_alerts(https, org)
        assert still["state"] == "resolved" and still["resolved_at"] is not None

        await engine.dispatch(org)
        hits = await hook.await_hits(2)
        assert [h.json["type"] for h in hits] == ["alert.opened", "alert.resolved"]


async def test_concurrent_evaluations_record_an_event_once(
    https: httpx.Client, engine: Engine
) -> None:
    org = new_org(https)
    (enrolled,) = [r for r in org.default_rules if r["kind"] == "new_device"]
    call(https, org.owner, "PATCH", org.path(f"/alert-rules/{enrolled['id']}"), {"enabled": True})
    with receiver() as hook:
        channel, hook.secret = create_webhook(https, org, hook.url)
        device = new_device(https, org, "lab-new-01")
        await asyncio.gather(*(engine.evaluate(org) for _ in range(5)))
        await engine.evaluate(org)
        (event,) = await engine.alerts(org, enrolled["id"])
        assert str(event["device_id"]) == device.device_id and event["state"] == "resolved"
        notes = await engine.notifications(org, channel["id"])
        assert [(n["kind"], n["alert_id"]) for n in notes] == [("alert", event["id"])]
        await engine.dispatch(org)
        (hit,) = await hook.await_hits(1)
        assert hit.json["type"] == "alert.event"
        assert hit.json["alert"]["device_name"] == "lab-new-01"
