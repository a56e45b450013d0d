"""The alerts API: roles, the acknowledge/resolve lifecycle, rule validation, channel secrets.

Proves: a readonly member can list rules, alerts, channels, deliveries and school hours, but
every write — rule create/patch/delete, channel create/patch/delete/test, acknowledge, resolve,
school hours — is 403 and changes nothing (rules, alerts, channels, notifications, settings and
the audit log are byte-for-byte the same; the test receiver got nothing); an owner acknowledges
an open alert (it stays acknowledged while its condition holds, is no longer "open", and a second
acknowledge is 409) and resolves it (409 again after), both audited; an acknowledged alert still
auto-resolves when its metric recovers; invalid rules — unknown metric, missing threshold or
operator, offline duration under 60 s, missing or superfluous scope_id, and the same mistakes
made through PATCH (including nulls) — are 422 and create or change nothing, an unknown scope
is 404; a webhook's signing secret is in the creation response only: never in the list, a
PATCH response, deliveries or the audit log; invalid channel settings are 422.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from sentinel.config import Settings
from tests.alerts.support import (
    AlertOrg,
    Engine,
    apublish,
    call,
    cpu_rule,
    create_rule,
    create_webhook,
    list_alerts,
    new_device,
    new_org,
    online,
    receiver,
)
from tests.people import add_member


async def _snapshot(engine: Engine, org: AlertOrg) -> dict[str, Any]:
    tables = {
        "rules": "SELECT * FROM alert_rules ORDER BY id",
        "alerts": "SELECT * FROM alerts ORDER BY id",
        "channels": "SELECT * FROM notification_channels ORDER BY id",
        "notifications": "SELECT * FROM notifications ORDER BY id",
        "settings": "SELECT * FROM settings WHERE key <> 'alerts_watermark' ORDER BY key",
        "audit": "SELECT * FROM audit_log ORDER BY id",
    }
    return {
        name: [tuple(r.values()) for r in await engine.fetch(org, query)]
        for name, query in tables.items()
    }


async def test_readonly_reads_everything_and_changes_nothing(
    https: httpx.Client, settings: Settings, engine: Engine
) -> None:
    org = new_org(https)
    device = new_device(https, org)
    readonly = add_member(https, org.owner, org.org_id, "readonly")
    with receiver() as hook:
        channel, hook.secret = create_webhook(https, org, hook.url)
        rule = cpu_rule(https, org, device, 0, channel_ids=[])  # nothing queued, nothing sent
        await apublish(settings, device, [{"seq": 0, "ts": time.time() - 5, "cpu_pct": 99.0}])
        await engine.evaluate(org)
        (alert,) = list_alerts(https, org, "open")
        before = await _snapshot(engine, org)

        def read(suffix: str) -> Any:
            return call(https, readonly, "GET", org.path(suffix))

        assert rule["id"] in {r["id"] for r in read("/alert-rules")}
        assert [a["id"] for a in list_alerts(https, org, "open", user=readonly)] == [alert["id"]]
        assert [c["id"] for c in read("/notification-channels")] == [channel["id"]]
        assert read(f"/notification-channels/{channel['id']}/deliveries") == []
        assert read("/school-hours")["timezone"] == "UTC"

        new_rule = {"name": "x", "kind": "offline", "duration_s": 600}
        new_channel = {"name": "x", "kind": "email", "config": {"recipients": ["a@b.example"]}}
        hours = {"timezone": "UTC", "weekly": {}, "holidays": []}
        writes: list[tuple[str, str, Any]] = [
            ("POST", "/alert-rules", new_rule),
            ("PATCH", f"/alert-rules/{rule['id']}", {"enabled": False}),
            ("DELETE", f"/alert-rules/{rule['id']}", None),
            ("POST", "/notification-channels", new_channel),
            ("PATCH", f"/notification-channels/{channel['id']}", {"name": "renamed"}),
            ("DELETE", f"/notification-channels/{channel['id']}", None),
            ("POST", f"/notification-channels/{channel['id']}/test", None),
            ("POST", f"/alerts/{alert['id']}/acknowledge", None),
            ("POST", f"/alerts/{alert['id']}/resolve", None),
            ("PUT", "/school-hours", hours),
        ]
        for method, suffix, body in writes:
            refused = call(https, readonly, method, org.path(suffix), body, 403)
            assert refused["status"] == 403, (method, suffix)
        assert await _snapshot(engine, org) == before
        assert hook.count() == 0


async def test_acknowledge_then_resolve(
    https: httpx.Client, settings: Settings, engine: Engine
) -> None:
    org = new_org(https)
    device = new_device(https, org)
    cpu = cpu_rule(https, org, device, 0, channel_ids=[])
    memory = create_rule(
        https,
        org,
        kind="metric_threshold",
        metric="mem_pct",
        operator=">",
        threshold=80,
        scope_type="device",
        scope_id=device.device_id,
        channel_ids=[],
    )
    with online(settings, device) as agent:
        base = time.time() - 60
        await agent.send([{"seq": 0, "ts": base, "cpu_pct": 99.0, "mem_pct": 95.0}])
        await engine.evaluate(org)
        alerts = {a["rule_id"]: a for a in list_alerts(https, org, "open")}
        hot, full = alerts[cpu["id"]], alerts[memory["id"]]

        def act(alert_id: str, action: str, status: int = 200) -> Any:
            return call(
                https, org.owner, "POST", org.path(f"/alerts/{alert_id}/{action}"), None, status
            )

        acked = act(hot["id"], "acknowledge")
        assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == org.owner.id
        assert acked["acknowledged_at"] is not None and acked["resolved_at"] is None
        assert act(hot["id"], "acknowledge", 409)["status"] == 409
        assert [a["id"] for a in list_alerts(https, org, "acknowledged")] == [hot["id"]]
        assert hot["id"] not in {a["id"] for a in list_alerts(https, org, "open")}

        # Its condition still holds: evaluating again keeps it acknowledged (no second alert).
        await engine.evaluate(org)
        assert [(str(r["id"]), r["state"]) for r in await engine.alerts(org, cpu["id"])] == [
            (hot["id"], "acknowledged")
        ]

        resolved = act(hot["id"], "resolve")
        assert resolved["state"] == "resolved" and resolved["resolved_by"] == org.owner.id
        assert resolved["acknowledged_by"] == org.owner.id and resolved["resolved_at"] is not None
        assert act(hot["id"], "resolve", 409)["status"] == 409
        assert act(hot["id"], "acknowledge", 409)["status"] == 409
        assert act(str(uuid.uuid4()), "acknowledge", 404)["status"] == 404
        assert hot["id"] in {a["id"] for a in list_alerts(https, org, "resolved")}

        audit = call(https, org.owner, "GET", org.path("/audit-log"), None)["items"]
        actions = [(e["action"], e["target_id"], e["actor_id"]) for e in audit]
        assert ("alert.acknowledged", hot["id"], org.owner.id) in actions
        assert ("alert.resolved", hot["id"], org.owner.id) in actions

        # Acknowledged, then the metric recovers: the engine resolves it.
        act(full["id"], "acknowledge")
        await agent.send([{"seq": 1, "ts": base + 10, "mem_pct": 40.0}])
        await engine.evaluate(org)
        (row,) = await engine.alerts(org, memory["id"])
        assert row["state"] == "resolved" and row["resolved_at"] is not None
        done = {a["id"]: a for a in list_alerts(https, org, "resolved")}[full["id"]]
        assert done["resolved_by"] is None and done["acknowledged_by"] == org.owner.id


def test_invalid_rules_are_refused(https: httpx.Client) -> None:
    org = new_org(https)
    device = new_device(https, org)
    metric = {"name": "m", "kind": "metric_threshold", "metric": "cpu_pct", "operator": ">"}
    offline = {"name": "o", "kind": "offline", "duration_s": 600}
    invalid: list[dict[str, Any]] = [
        {**metric, "metric": "gpu_pct", "threshold": 90},  # unknown metric
        {**metric, "metric": "cpu_pct; DROP TABLE alerts", "threshold": 90},
        metric,  # no threshold
        {**metric, "operator": None, "threshold": 90},  # no operator
        {**metric, "operator": ">=", "threshold": 90},
        {**offline, "duration_s": 59},  # offline for less than a minute
        {**offline, "scope_type": "device"},  # scope_id missing
        {**offline, "scope_type": "group"},
        {**offline, "scope_id": device.device_id},  # org scope takes no scope_id
        {**offline, "kind": "teleported"},
        {**offline, "severity": "apocalyptic"},
        {**offline, "duration_s": 604_801},
        {**offline, "name": " "},
        {**offline, "surprise": True},
    ]
    before = call(https, org.owner, "GET", org.path("/alert-rules"))
    for body in invalid:
        problem = call(https, org.owner, "POST", org.path("/alert-rules"), body, 422)
        assert problem["code"] == "validation_failed", body
    unknown = {**offline, "scope_type": "device", "scope_id": str(uuid.uuid4())}
    call(https, org.owner, "POST", org.path("/alert-rules"), unknown, 404)
    assert call(https, org.owner, "GET", org.path("/alert-rules")) == before

    # The same mistakes through PATCH: refused, and the rules are unchanged.
    cpu = cpu_rule(https, org, device, 60)
    gone = create_rule(https, org, **{k: v for k, v in offline.items() if k != "name"})
    before = call(https, org.owner, "GET", org.path("/alert-rules"))
    patches: list[tuple[dict[str, Any], dict[str, Any]]] = [
        (gone, {"duration_s": 30}),
        (cpu, {"threshold": None}),
        (cpu, {"duration_s": None}),
        (cpu, {"name": None}),
        (cpu, {"enabled": None}),
        (cpu, {"severity": None}),
        (cpu, {"respect_school_hours": None}),
        (cpu, {"metric": "mem_pct"}),
        (cpu, {"duration_s": -1}),
    ]
    for rule, body in patches:
        path = org.path(f"/alert-rules/{rule['id']}")
        problem = call(https, org.owner, "PATCH", path, body, 422)
        assert problem["code"] == "validation_failed", body
    assert call(https, org.owner, "GET", org.path("/alert-rules")) == before
    assert call(https, org.owner, "PATCH", org.path(f"/alert-rules/{uuid.uuid4()}"), {}, 404)


def test_webhook_secret_is_shown_once(https: httpx.Client) -> None:
    org = new_org(https)
    channel, secret = create_webhook(https, org, "http://127.0.0.1:9/hook")
    assert set(channel) == {
        "id",
        "name",
        "kind",
        "config",
        "rate_per_minute",
        "enabled",
        "created_at",
    }
    path = org.path(f"/notification-channels/{channel['id']}")

    listed = https.get(org.path("/notification-channels"), headers=org.owner.headers)
    assert listed.status_code == 200 and secret not in listed.text
    assert [set(c) for c in listed.json()] == [set(channel)]
    patched = https.patch(
        path, json={"name": "renamed", "rate_per_minute": 5}, headers=org.owner.headers
    )
    assert patched.status_code == 200 and secret not in patched.text
    assert set(patched.json()) == set(channel) and patched.json()["rate_per_minute"] == 5
    log = https.get(org.path("/audit-log"), params={"limit": 500}, headers=org.owner.headers)
    assert log.status_code == 200 and "channel.created" in log.text and secret not in log.text
    deliveries = https.get(f"{path}/deliveries", headers=org.owner.headers)
    assert deliveries.status_code == 200 and secret not in deliveries.text

    email = call(
        https,
        org.owner,
        "POST",
        org.path("/notification-channels"),
        {"name": "mail", "kind": "email", "config": {"recipients": ["it@school.example"]}},
        201,
    )
    assert "signing_secret" not in email

    invalid: list[dict[str, Any]] = [
        {"name": "w", "kind": "webhook", "config": {"recipients": ["it@school.example"]}},
        {"name": "e", "kind": "email", "config": {"url": "https://hooks.example/x"}},
        {"name": "e", "kind": "email", "config": {"recipients": ["not-an-address"]}},
        {"name": "e", "kind": "email", "config": {"recipients": []}},
        {"name": "w", "kind": "webhook", "config": {"url": "ftp://hooks.example/x"}},
        {
            "name": "w",
            "kind": "webhook",
            "config": {"url": "https://h.example"},
            "rate_per_minute": 0,
        },
        {"name": "w", "kind": "sms", "config": {"url": "https://h.example"}},
    ]
    for body in invalid:
        call(https, org.owner, "POST", org.path("/notification-channels"), body, 422)
    for body in ({"name": None}, {"rate_per_minute": None}, {"enabled": None}, {"kind": "email"}):
        call(https, org.owner, "PATCH", path, body, 422)
    names = {c["name"] for c in call(https, org.owner, "GET", org.path("/notification-channels"))}
    assert names == {"renamed", "mail"}
