"""The audit log with filters (action, person, kind of object, dates in the viewer's time zone)
and keyset pagination, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request, Response
from starlette.datastructures import QueryParams

from sentinel.api.deps import Res
from sentinel.audit import queries as audit_queries
from sentinel.orgs import members as member_service
from sentinel.web import layout
from sentinel.web.access import AuditRead
from sentinel.web.rendering import render

PAGE_SIZE = 50
TARGET_TYPES = {
    "device": "Devices",
    "enrollment_token": "Enrollment tokens",
    "group": "Device groups",
    "user": "Members",
    "invitation": "Invitations",
    "organization": "The organization",
    "settings": "Settings",
    "alert_rule": "Alert rules",
    "alert": "Alerts",
    "channel": "Notification channels",
    "subscription": "Billing",
}
COMMON_ACTIONS = (
    "device",
    "device.enrolled",
    "device.revoked",
    "device.decommissioned",
    "device.token_rotated",
    "command.created",
    "enrollment_token",
    "member",
    "invitation",
    "org",
    "agent_settings",
)


def _zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class AuditFilters:
    action: str | None
    actor_id: str | None
    target_type: str | None
    target_id: str | None
    day_from: date | None
    day_to: date | None
    tz: str | None
    cursor: int | None

    @classmethod
    def from_query(cls, params: QueryParams) -> AuditFilters:
        def text(name: str) -> str | None:
            return (params.get(name) or "").strip()[:100] or None

        cursor = params.get("cursor", "")
        target_type = params.get("target_type")
        return cls(
            action=text("action"),
            actor_id=text("actor_id"),
            target_type=target_type if target_type in TARGET_TYPES else None,
            target_id=text("target_id"),
            day_from=_day(params.get("from")),
            day_to=_day(params.get("to")),
            tz=params.get("tz") if _zone(params.get("tz")) else None,
            cursor=int(cursor) if cursor.isdigit() and 0 < int(cursor) < 2**63 else None,
        )

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """Whole days in the viewer's time zone (`tz`, sent by the page), as UTC instants."""
        zone = _zone(self.tz) or UTC
        since = datetime.combine(self.day_from, time(), zone) if self.day_from else None
        until = (
            datetime.combine(self.day_to + timedelta(days=1), time(), zone) if self.day_to else None
        )
        return since, until

    def query(self, **changes: Any) -> str:
        values = {
            "action": self.action,
            "actor_id": self.actor_id,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "from": self.day_from.isoformat() if self.day_from else None,
            "to": self.day_to.isoformat() if self.day_to else None,
            "tz": self.tz,
            **changes,
        }
        return urlencode({k: v for k, v in values.items() if v})

    @property
    def active(self) -> bool:
        return any((self.action, self.actor_id, self.target_type, self.target_id))


async def page(request: Request, ctx: AuditRead, res: Res) -> Response:
    filters = AuditFilters.from_query(request.query_params)
    since, until = filters.bounds()
    async with res.router.transaction(ctx.tenant) as conn:
        rows = await audit_queries.list_entries(
            conn,
            before_id=filters.cursor,
            limit=PAGE_SIZE + 1,
            action=filters.action,
            actor_id=filters.actor_id,
            target_type=filters.target_type,
            target_id=filters.target_id,
            since=since,
            until=until,
        )
    entries = [dict(row) for row in rows[:PAGE_SIZE]]
    older = entries[-1]["id"] if len(rows) > PAGE_SIZE else None
    context = await layout.in_org(res, ctx, "audit")
    context.update(
        entries=entries,
        older=older,
        filters=filters,
        members=await member_service.list_members(res, ctx),
        target_types=TARGET_TYPES,
        common_actions=COMMON_ACTIONS,
    )
    return render(request, "audit.html", context)
