"""Delivering notifications: e-mail over SMTP and signed webhooks, with retries, a per-channel
rate cap that turns a flood into one digest, and every attempt recorded.

Webhook signature: header `Sentinel-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>.<body>" with the channel's secret>` — receivers recompute it and reject stale timestamps.
Channels are delivered concurrently, so a slow or failing receiver never delays another.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from email.message import EmailMessage
from typing import Any
from uuid import UUID

import aiosmtplib
import asyncpg
import httpx

from sentinel.alerts import queries
from sentinel.config import Settings
from sentinel.db.tenancy import Tenant, TenantRouter
from sentinel.logging import get_logger

log = get_logger(__name__)
BATCH = 5000
LEASE_SECONDS = 60.0  # how long claimed notifications stay claimed, beyond the send timeouts


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def verify_signature(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """What a receiver does (used by our tests and documented for integrators)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        stamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - stamp) > tolerance:
        return False
    expected = sign(secret, body, stamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class DeliveryError(Exception):
    pass


async def send_webhook(
    settings: Settings, url: str, secret: str, payload: dict[str, Any], delivery_id: str
) -> None:
    body = json.dumps(payload, default=str, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Sentinel-Webhooks/1",
        "Sentinel-Signature": sign(secret, body),
        "Sentinel-Delivery": delivery_id,
        "Sentinel-Event": str(payload.get("type", "")),
    }
    try:
        async with httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds, follow_redirects=False
        ) as client:
            response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook unreachable: {exc.__class__.__name__}") from exc
    if response.status_code >= 300:
        raise DeliveryError(f"webhook answered {response.status_code}")


def render_email(payload: dict[str, Any]) -> tuple[str, str]:
    kind = payload.get("type")
    if kind == "digest":
        lines = [
            f"- [{a['severity']}] {a['title']} ({a.get('device_name') or a['device_id']})"
            + (" — resolved" if a.get("state") == "resolved" else "")
            for a in payload["alerts"]
            if "title" in a
        ]
        return (
            f"[Sentinel] {len(payload['alerts'])} alerts",
            "Many alerts fired at once; here they are together:\n\n" + "\n".join(lines),
        )
    if kind == "test":
        return "[Sentinel] Test notification", "This channel works. No action is needed."
    alert = payload["alert"]
    verb = "resolved" if kind == "alert.resolved" else "alert"
    subject = f"[Sentinel] {alert['severity']} {verb}: {alert['title']}"
    body = (
        f"{alert['title']}\nDevice: {alert.get('device_name') or alert['device_id']}\n"
        f"Severity: {alert['severity']}\nValue: {alert.get('value')}\n"
        f"Since: {alert.get('since')}\n"
    )
    if kind == "alert.resolved":
        body = "Resolved — the condition has cleared.\n\n" + body
    return subject, body


async def send_email(settings: Settings, recipients: list[str], payload: dict[str, Any]) -> None:
    subject, body = render_email(payload)
    await send_message(settings, recipients, subject, body)


async def send_message(settings: Settings, recipients: list[str], subject: str, body: str) -> None:
    """One plain-text e-mail through the deployment's SMTP server (alerts, invitations)."""
    if not settings.smtp_host:
        raise DeliveryError("e-mail is not configured on this server (SMTP host)")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content(body)
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            start_tls=settings.smtp_starttls,
            timeout=settings.webhook_timeout_seconds,
        )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise DeliveryError(f"SMTP delivery failed: {exc.__class__.__name__}") from exc


async def deliver(
    settings: Settings, channel: asyncpg.Record, payload: dict[str, Any], delivery_id: str
) -> None:
    config = channel["config"]
    if channel["kind"] == "webhook":
        await send_webhook(settings, config["url"], channel["secret"], payload, delivery_id)
    else:
        await send_email(settings, list(config["recipients"]), payload)


async def dispatch_channel(
    settings: Settings, router: TenantRouter, tenant: Tenant, channel_id: UUID
) -> int:
    """Send what is due on one channel: one by one within its rate, else one digest.

    The due notifications are claimed (leased: not due again for a while) in a short
    transaction; they are sent with no transaction or connection held, each outcome recorded as
    it happens. A dispatcher that dies mid-way leaves its claim to expire, and the notifications
    are sent later. After a failure the rest of the pass is given back at once: the receiver is
    failing, so they wait for the next pass instead of each running into the same error or
    timeout now.
    """
    async with router.transaction(tenant) as conn:
        channel = await queries.channel(conn, channel_id)
        if channel is None or not channel["enabled"]:
            return 0
        due = await queries.due_notifications(conn, channel_id, BATCH)
        if not due:
            return 0
        budget = channel["rate_per_minute"] - await queries.sent_last_minute(conn, channel_id)
        if budget <= 0:
            return 0
        if len(due) > budget:
            batches = [
                (
                    due,
                    {
                        "type": "digest",
                        "org_id": str(tenant.org_id),
                        "alerts": [n["payload"].get("alert", {}) for n in due],
                    },
                )
            ]
        else:
            batches = [([n], n["payload"]) for n in due]
        lease = LEASE_SECONDS + settings.webhook_timeout_seconds * len(batches)
        await queries.lease(conn, [n["id"] for n in due], lease)
    sent = 0
    for index, (rows, payload) in enumerate(batches):
        ids = [r["id"] for r in rows]
        try:
            await deliver(settings, channel, payload, str(ids[0]))
        except DeliveryError as exc:
            rest = [r["id"] for later, _ in batches[index + 1 :] for r in later]
            async with router.transaction(tenant) as conn:
                await queries.mark_attempt_failed(
                    conn, ids, str(exc), settings.notification_max_attempts
                )
                await queries.release(conn, rest)
            log.warning(
                "notification delivery failed",
                channel_id=str(channel_id),
                error=str(exc),
                attempt=rows[0]["attempts"] + 1,
            )
            break
        async with router.transaction(tenant) as conn:
            await queries.mark_delivered(conn, ids, ids[0] if len(rows) > 1 else None)
        sent += 1
    return sent


async def dispatch_org(settings: Settings, router: TenantRouter, tenant: Tenant) -> int:
    async with router.transaction(tenant) as conn:
        channel_ids = [c["id"] for c in await queries.channels(conn, enabled_only=True)]
    results = await asyncio.gather(
        *(dispatch_channel(settings, router, tenant, cid) for cid in channel_ids),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException):
            log.error("channel dispatch failed", error=result.__class__.__name__)
    return sum(r for r in results if isinstance(r, int))
