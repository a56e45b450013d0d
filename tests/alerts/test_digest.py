"""A flood of alerts on one channel becomes one digest.

A thousand devices (inserted directly into the tenant's `devices` table: enrolling a thousand
agents would only slow the test) have been offline for two hours when an offline rule is
added. Proves: evaluation opens 1,000 alerts at once, and the channel (10 messages a minute)
receives ONE signed digest listing all 1,000 — never more than rate + 1 messages — with every
notification recorded as `digested` into that one message; when they all come back, the 1,000
recoveries are again one digest; the e-mail rendering of a digest names every alert.
"""

from __future__ import annotations

import time

import asyncpg
import httpx

from sentinel.alerts.notify import render_email
from sentinel.config import Settings
from tests.alerts.support import (
    AlertOrg,
    Engine,
    create_rule,
    create_webhook,
    new_org,
    receiver,
    until,
)

FLEET = 1000
RATE = 10


async def settled(
    engine: Engine, org: AlertOrg, channel_id: str, count: int
) -> list[asyncpg.Record] | None:
    """The channel's notifications once `count` of them exist and none is waiting any more (the
    delivery is recorded just after the receiver has answered)."""
    rows = await engine.notifications(org, channel_id)
    return rows if len(rows) == count and all(r["status"] != "pending" for r in rows) else None


async def test_thousand_alerts_in_a_minute_make_one_digest(
    https: httpx.Client, settings: Settings, engine: Engine
) -> None:
    org = new_org(https)
    await engine.execute(
        org,
        """INSERT INTO devices (id, name, online, last_seen_at)
           SELECT gen_random_uuid(), 'cart-' || lpad(i::text, 4, '0'), false,
                  now() - interval '2 hours'
           FROM generate_series(1, $1) AS i""",
        FLEET,
    )
    fleet = {str(r["id"]) for r in await engine.fetch(org, "SELECT id FROM devices")}
    assert len(fleet) == FLEET

    with receiver() as hook:
        channel, hook.secret = create_webhook(https, org, hook.url, rate_per_minute=RATE)
        started = time.monotonic()
        rule = create_rule(https, org, kind="offline", duration_s=600, severity="critical")
        await engine.evaluate(org)
        await engine.dispatch(org)
        (digest,) = await hook.await_hits(1)
        assert digest.verified and digest.headers["sentinel-event"] == "digest"
        body = digest.json
        assert body["type"] == "digest" and body["org_id"] == org.org_id
        assert len(body["alerts"]) == FLEET
        assert {a["device_id"] for a in body["alerts"]} == fleet
        assert {a["rule_id"] for a in body["alerts"]} == {rule["id"]}
        assert all(a["state"] == "open" for a in body["alerts"])

        subject, text = render_email(body)
        assert subject == f"[Sentinel] {FLEET} alerts"
        assert sum(line.startswith("- [critical] ") for line in text.splitlines()) == FLEET
        assert "cart-0001" in text and "cart-1000" in text

        rows = await until(lambda: settled(engine, org, channel["id"], FLEET), what="recorded")
        assert {(r["kind"], r["status"]) for r in rows} == {("alert", "digested")}
        assert {r["digest_id"] for r in rows} == {rows[0]["id"]}
        assert digest.headers["sentinel-delivery"] == str(rows[0]["id"])
        assert hook.count() == 1 <= RATE + 1  # and nothing is left to send

        # Everyone back online within the same minute: the recoveries are one digest too.
        await engine.execute(org, "UPDATE devices SET online = true, last_seen_at = now()")
        await engine.evaluate(org)
        await engine.dispatch(org)
        _, recoveries = await hook.await_hits(2)
        assert time.monotonic() - started < 60
        assert recoveries.json["type"] == "digest" and len(recoveries.json["alerts"]) == FLEET
        assert all(a["state"] == "resolved" for a in recoveries.json["alerts"])
        assert "resolved" in render_email(recoveries.json)[1].splitlines()[2]
        rows = await until(lambda: settled(engine, org, channel["id"], 2 * FLEET))
        assert [r["kind"] for r in rows] == ["alert"] * FLEET + ["recovery"] * FLEET
        assert len({r["digest_id"] for r in rows}) == 2
        assert hook.count() == 2 <= RATE + 1
