"""Enrollment: the organization's tokens (state, uses, expiry, group), creating one with a
copy-once display, and install instructions per operating system."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response

from sentinel.api.deps import Res
from sentinel.api.resources import Resources
from sentinel.authz.guard import OrgContext
from sentinel.devices import service as device_service
from sentinel.web import layout
from sentinel.web.access import EnrollmentRead
from sentinel.web.rendering import render

EXPIRY_CHOICES = ((1, "1 hour"), (24, "1 day"), (72, "3 days"), (168, "1 week"), (720, "30 days"))
TOKEN_SLOT = "TOKEN"  # noqa: S105 - a placeholder the page fills with the new token


def token_state(token: dict[str, Any], now: datetime) -> tuple[str, str]:
    if token["revoked_at"] is not None:
        return "revoked", "Revoked"
    if token["expires_at"] <= now:
        return "expired", "Expired"
    if token["uses"] >= token["max_uses"]:
        return "used_up", "Used up"
    return "active", "Active"


def install_commands(res: Resources) -> list[dict[str, str]]:
    """What an IT person pastes on each kind of computer (`TOKEN` is filled in on the page)."""
    server = res.settings.public_url
    ca = " --ca-file ca.crt" if res.settings.mode == "local" else ""
    enroll = f"sentinel-agent enroll --server {server} --token {TOKEN_SLOT}{ca}"
    return [
        {
            "os": "linux",
            "name": "Linux",
            "shell": "Terminal (as root)",
            "command": f"python3 -m pip install sentinel-agent && {enroll} && "
            "systemctl enable --now sentinel-agent",
        },
        {
            "os": "macos",
            "name": "macOS",
            "shell": "Terminal (as an administrator)",
            "command": f"sudo python3 -m pip install sentinel-agent && sudo {enroll} && "
            "sudo launchctl bootstrap system /Library/LaunchDaemons/org.sentinel.agent.plist",
        },
        {
            "os": "windows",
            "name": "Windows",
            "shell": "PowerShell (Run as administrator)",
            "command": f"py -m pip install sentinel-agent; {enroll}; nssm start SentinelAgent",
        },
    ]


async def _tokens(res: Resources, ctx: OrgContext) -> dict[str, Any]:
    tokens = await device_service.list_enrollment_tokens(res, ctx)
    groups = await device_service.list_groups(res, ctx)
    names = {g["id"]: g["name"] for g in groups}
    now = datetime.now(UTC)
    for token in tokens:
        token["state"], token["state_label"] = token_state(token, now)
        token["group_name"] = names.get(token["group_id"]) if token["group_id"] else None
    return {"tokens": tokens, "groups": groups}


async def page(request: Request, ctx: EnrollmentRead, res: Res) -> Response:
    context = await layout.in_org(res, ctx, "enrollment")
    context.update(
        await _tokens(res, ctx),
        expiry_choices=EXPIRY_CHOICES,
        installs=install_commands(res),
        token_slot=TOKEN_SLOT,
        local_stack=res.settings.mode == "local",
    )
    return render(request, "enrollment.html", context)


async def tokens(request: Request, ctx: EnrollmentRead, res: Res) -> Response:
    context = await layout.in_org(res, ctx, "enrollment")
    context.update(await _tokens(res, ctx))
    return render(request, "_tokens.html", context)
