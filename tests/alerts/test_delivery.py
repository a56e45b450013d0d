"""Notification delivery to real receivers.

Proves: an aiosmtpd server started here receives the alert e-mail and then the recovery e-mail
(sender, recipients, subject and body), and the channel's test-send action e-mails it too; with
nothing but the stack running (device → broker → ingest → worker evaluation → worker delivery),
a local HTTP receiver gets the webhook and verifies its `Sentinel-Signature` with the secret
shown at creation (a wrong secret, a changed body or a stale timestamp do not verify); a
receiver answering 500 is retried with exponential backoff (attempts grow, `next_attempt_at`
moves 2, 4, 8, 16 s out, nothing is retried before it is due) and marked failed after
`notification_max_attempts`, while a healthy channel of the same alert is delivered at once —
not after the failing or hanging (timed-out) receivers; a test-send is delivered exactly once
even when a dispatcher sweep runs while it is in flight.

The stack's worker delivers webhooks on its own as well; every assertion holds whichever of the
two dispatchers sends a notification (they never both send one). For e-mail the stack has no
SMTP server configured, so the worker's attempts fail and only ours, pointed at aiosmtpd, send.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx

from sentinel.alerts.notify import sign, verify_signature
from sentinel.api.app import create_app
from sentinel.config import Settings
from tests.alerts.support import (
    AlertOrg,
    Engine,
    apublish,
    call,
    checked,
    cpu_rule,
    cpu_samples,
    create_webhook,
    new_device,
    new_org,
    online,
    receiver,
    smtp_server,
    until,
)
from tests.fleet import DeviceClient


def deliveries(https: httpx.Client, org: AlertOrg, channel_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = checked(
        https.get(
            org.path(f"/notification-channels/{channel_id}/deliveries"), headers=org.owner.headers
        )
    )
    return rows


async def test_email_reaches_a_real_smtp_server(
    https: httpx.Client, settings: Settings, engine: Engine
) -> None:
    org = new_org(https)
    device = new_device(https, org, "lab-mail-01")
    recipients = ["it@school.example", "head@school.example"]
    email = {"name": "IT team", "kind": "email", "config": {"recipients": recipients}}
    channel = call(https, org.owner, "POST", org.path("/notification-channels"), email, 201)
    assert "signing_secret" not in channel
    cpu_rule(https, org, device, 0, name="CPU saturated", severity="critical")
    base = time.time() - 30

    with smtp_server() as smtp, online(settings, device) as agent:
        smtp_settings = smtp.settings(settings)

        async def mails(count: int) -> list[Any]:
            async def arrived() -> list[Any] | None:
                await engine.dispatch(org, smtp_settings)
                got = smtp.received()
                return got if len(got) >= count else None

            return await until(arrived, what=f"{count} e-mails")

        await agent.send(cpu_samples(base, (0, 0, 97.5)))
        await engine.evaluate(org)
        (mail,) = await mails(1)
        assert mail.mail_from == settings.smtp_from
        assert mail.rcpt_tos == recipients
        assert mail.message["To"] == ", ".join(recipients)
        assert mail.message["Subject"] == "[Sentinel] critical alert: CPU saturated"
        body = mail.message.get_content()
        assert "Device: lab-mail-01" in body
        assert "Severity: critical" in body and "Value: 97.5" in body

        await agent.send(cpu_samples(base, (1, 10, 12.0)))
        await engine.evaluate(org)
        _, recovery = await mails(2)
        assert recovery.message["Subject"] == "[Sentinel] critical resolved: CPU saturated"
        assert recovery.message.get_content().startswith("Resolved — the condition has cleared.")
        assert "Device: lab-mail-01" in recovery.message.get_content()
        rows = await engine.notifications(org, channel["id"])
        assert [(n["kind"], n["status"]) for n in rows] == [("alert", "sent"), ("recovery", "sent")]

        # The test-send action, from an API process configured with this SMTP server.
        app = create_app(smtp_settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                sent = await client.post(
                    org.path(f"/notification-channels/{channel['id']}/test"),
                    headers=org.owner.headers,
                )
        assert sent.status_code == 200, sent.text
        assert sent.json() == {"delivered": True}
        test_mail = smtp.received()[2]
        assert test_mail.message["Subject"] == "[Sentinel] Test notification"
        assert test_mail.rcpt_tos == recipients
        assert len(smtp.received()) == 3


async def test_webhook_through_the_worker_is_signed(
    https: httpx.Client, settings: Settings
) -> None:
    org = new_org(https)
    enrollment = new_device(https, org, "lab-hook-01")
    with receiver() as hook:
        channel, hook.secret = create_webhook(https, org, hook.url)
        rule = cpu_rule(https, org, enrollment, 0, name="CPU saturated")
        device = DeviceClient(settings, enrollment)
        device.connect()
        try:
            device.send_samples([0], cpu_pct=99.0)  # ts ≈ now; the worker does the rest
            device.wait_receipts({0})
        finally:
            device.close()
        (hit,) = await hook.await_hits(1, within=30)

    assert hit.verified
    assert hit.headers["content-type"] == "application/json"
    assert hit.headers["sentinel-event"] == "alert.opened"
    payload = hit.json
    assert payload["type"] == "alert.opened" and payload["org_id"] == org.org_id
    assert payload["alert"]["rule_id"] == rule["id"]
    assert payload["alert"]["device_name"] == "lab-hook-01"
    assert payload["alert"]["value"] == 99.0

    # What a receiver must refuse: another secret, a changed body, an old signature.
    header = hit.headers["sentinel-signature"]
    assert not verify_signature("whsec_wrong", hit.body, header)
    assert not verify_signature(hook.secret, hit.body.replace(b"99.0", b"9.0"), header)
    stale = sign(hook.secret, hit.body, int(time.time()) - 3600)
    assert not verify_signature(hook.secret, hit.body, stale)

    async def sent() -> list[dict[str, Any]] | None:
        rows = deliveries(https, org, channel["id"])
        return rows if rows and rows[0]["status"] == "sent" else None

    (row,) = await until(sent, what="delivery recorded")
    assert row["kind"] == "alert" and row["attempts"] == 1 and row["last_error"] is None
    assert hit.headers["sentinel-delivery"] == str(row["id"])


async def test_failing_receiver_backs_off_then_fails_without_delaying_others(
    https: httpx.Client, settings: Settings, engine: Engine
) -> None:
    org = new_org(https)
    device = new_device(https, org)
    max_attempts = settings.notification_max_attempts
    assert max_attempts == 5
    fast = settings.model_copy(update={"webhook_timeout_seconds": 1.0})
    with (
        receiver(status=500, delays=[0.8]) as failing,
        receiver(delays=[30.0] * 5) as hanging,
        receiver() as good,
    ):
        # Named so that a channel-by-channel dispatcher would reach the good one last.
        bad, failing.secret = create_webhook(https, org, failing.url, name="a failing")
        stuck, hanging.secret = create_webhook(https, org, hanging.url, name="b hanging")
        fine, good.secret = create_webhook(https, org, good.url, name="c good")
        cpu_rule(https, org, device, 0)
        await apublish(settings, device, cpu_samples(time.time() - 30, (0, 0, 99)))
        await engine.evaluate(org)
        await engine.dispatch(org, fast)

        (first_fail,) = await failing.await_hits(1)
        (first_hang,) = await hanging.await_hits(1)
        (delivered,) = await good.await_hits(1)
        assert delivered.verified and delivered.json["type"] == "alert.opened"
        # The good channel was served while the others were still failing / hanging.
        assert delivered.arrived - first_fail.arrived < 0.5
        assert delivered.arrived - first_hang.arrived < 0.5
        assert first_fail.answered - first_fail.arrived >= 0.75
        assert delivered.answered < first_fail.answered

        async def attempted(channel_id: str, count: int) -> Any:
            async def probe() -> Any:
                (row,) = await engine.notifications(org, channel_id)
                return row if row["attempts"] >= count else None

            return await until(probe, what=f"attempt {count}")

        # Attempt 1 failed (slowly): backed off 2 s from the failure, not retried before then.
        row = await attempted(bad["id"], 1)
        assert row["status"] == "pending" and row["last_error"] == "webhook answered 500"
        backoff = row["next_attempt_at"].timestamp() - first_fail.answered_wall
        assert 1.9 <= backoff <= 2.3, backoff
        await engine.dispatch(org)
        assert failing.count() == 1

        # The hanging receiver's attempt timed out and is waiting for its retry.
        hung = await attempted(stuck["id"], 1)
        assert hung["status"] == "pending"
        assert hung["last_error"] == "webhook unreachable: ReadTimeout"
        # Switched off, so that retrying it does not slow down the rest of this test.
        call(
            https,
            org.owner,
            "PATCH",
            org.path(f"/notification-channels/{stuck['id']}"),
            {"enabled": False},
        )

        # Attempt 2 once due (in real time); the later ones brought forward by moving the row's
        # due time (each backoff is still checked against when that attempt really failed).
        for attempt in range(2, max_attempts + 1):
            if attempt > 2:
                await engine.execute(
                    org,
                    "UPDATE notifications SET next_attempt_at = now() WHERE id = $1",
                    row["id"],
                )

            async def retried(count: int = attempt) -> bool:
                await engine.dispatch(org)
                return failing.count() >= count

            await until(retried, what=f"attempt {attempt}")
            hit = failing.snapshot()[attempt - 1]
            row = await attempted(bad["id"], attempt)
            assert row["attempts"] == attempt
            if attempt < max_attempts:
                assert row["status"] == "pending"
                backoff = row["next_attempt_at"].timestamp() - hit.answered_wall
                assert 2**attempt - 0.1 <= backoff <= 2**attempt + 0.3, (attempt, backoff)
            else:
                assert row["status"] == "failed"

        # Failed for good: due or not, never tried again.
        await engine.execute(
            org, "UPDATE notifications SET next_attempt_at = now() WHERE id = $1", row["id"]
        )
        await engine.dispatch(org)
        assert failing.count() == max_attempts
        assert good.count() == 1

    listed = {c["id"]: deliveries(https, org, c["id"]) for c in (bad, fine)}
    assert [(d["status"], d["attempts"]) for d in listed[bad["id"]]] == [("failed", max_attempts)]
    assert [(d["status"], d["attempts"]) for d in listed[fine["id"]]] == [("sent", 1)]


async def test_test_send_is_delivered_once_even_during_a_dispatch_sweep(
    https: httpx.Client, engine: Engine
) -> None:
    org = new_org(https)
    release = threading.Event()
    with receiver(hold=release) as hook:
        channel, hook.secret = create_webhook(https, org, hook.url)
        result: dict[str, Any] = {}

        def test_send() -> None:
            response = https.post(
                org.path(f"/notification-channels/{channel['id']}/test"),
                headers=org.owner.headers,
            )
            result["response"] = response

        sender = threading.Thread(target=test_send)
        sender.start()
        try:
            (hit,) = await hook.await_hits(1)  # in flight: the receiver holds the request
            await engine.dispatch(org)  # a dispatcher sweep lands meanwhile
            sent_twice = hook.count()
        finally:
            release.set()
            await asyncio.to_thread(sender.join, 15)
        assert checked(result["response"]) == {"delivered": True}
        assert sent_twice == 1
        assert hit.verified and hit.json == {"type": "test", "org_id": org.org_id}
        (row,) = deliveries(https, org, channel["id"])
        assert (row["kind"], row["status"], row["attempts"]) == ("test", "sent", 1)

    # A receiver that fails: reported, recorded as failed (test-sends are not retried).
    with receiver(status=500) as broken:
        failing, broken.secret = create_webhook(https, org, broken.url, name="broken")
        test_path = org.path(f"/notification-channels/{failing['id']}/test")
        outcome = call(https, org.owner, "POST", test_path)
        assert outcome == {"delivered": False, "error": "webhook answered 500"}
        (row,) = deliveries(https, org, failing["id"])
        assert (row["kind"], row["status"], row["attempts"]) == ("test", "failed", 1)
        assert broken.count() == 1


async def test_a_hanging_receiver_does_not_hold_up_the_worker(
    https: httpx.Client, settings: Settings, engine: Engine
) -> None:
    """Through the stack's worker: while one organization's receiver hangs (each attempt runs
    into the 5 s timeout) with several notifications due, another organization's alert is still
    evaluated and delivered within seconds."""
    slow = new_org(https)
    slow_device = new_device(https, slow)
    quick = new_org(https)
    quick_device = new_device(https, quick)
    with receiver(delays=[30.0] * 10) as hanging, receiver() as hook:
        stuck, hanging.secret = create_webhook(https, slow, hanging.url)
        _, hook.secret = create_webhook(https, quick, hook.url)
        for metric in ("cpu_pct", "mem_pct", "disk_pct"):
            cpu_rule(https, slow, slow_device, 0, metric=metric)
        cpu_rule(https, quick, quick_device, 0)
        bad = {"cpu_pct": 99.0, "mem_pct": 99.0, "disk_pct": 99.0}
        await apublish(settings, slow_device, [{"seq": 0, "ts": time.time() - 5, **bad}])
        await engine.evaluate(slow)  # three notifications due; the worker is woken to send them
        await hanging.await_hits(1)  # the worker is now waiting on the hanging receiver

        started = time.monotonic()
        device = DeviceClient(settings, quick_device)
        device.connect()
        try:
            device.send_samples([0], cpu_pct=99.0)
            device.wait_receipts({0})
        finally:
            device.close()
        (hit,) = await hook.await_hits(1, within=30)
        assert hit.json["type"] == "alert.opened"
        assert time.monotonic() - started < 6.0
        call(
            https,
            slow.owner,
            "PATCH",
            slow.path(f"/notification-channels/{stuck['id']}"),
            {"enabled": False},
        )
