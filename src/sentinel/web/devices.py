"""The device list: server-side filters, sorting and keyset pagination over the devices
service (fast with thousands of devices: one indexed page per request), the table as an htmx
fragment, and a CSV export of everything the filters match.

Live status and metrics are patched into the rendered rows by `static/js/devices.js`; column
choice is the viewer's own and lives in their browser.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from starlette.datastructures import QueryParams

from sentinel.api.deps import Res
from sentinel.api.resources import Resources
from sentinel.authz.guard import OrgContext
from sentinel.devices import queries as device_queries
from sentinel.devices import service as device_service
from sentinel.telemetry import queries as telemetry_queries
from sentinel.web import layout
from sentinel.web.access import DevicesRead
from sentinel.web.rendering import render, wants_fragment

TABLE_ID = "device-table"
STATUSES = {
    "online": "Online",
    "offline": "Offline",
    "never_seen": "Waiting for first contact",
    "revoked": "Revoked",
    "decommissioned": "Decommissioned",
}
PAGE_SIZES = (25, 50, 100, 200)
EXPORT_PAGE = 500
# Spreadsheets run a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class DeviceFilters:
    """The list's query string, read leniently: an unknown value means "no filter"."""

    q: str | None = None
    status: str | None = None
    group_id: UUID | None = None
    os: str | None = None
    tag: str | None = None
    sort: str = "name"
    cursor: str | None = None
    limit: int = 50

    @classmethod
    def from_query(cls, params: QueryParams) -> DeviceFilters:
        def text(name: str, longest: int) -> str | None:
            value = (params.get(name) or "").strip()
            return value[:longest] or None

        status = params.get("status")
        sort = params.get("sort", "name")
        try:
            group_id = UUID(params["group_id"]) if params.get("group_id") else None
        except ValueError:
            group_id = None
        try:
            limit = int(params.get("limit", 50))
        except ValueError:
            limit = 50
        return cls(
            q=text("q", 100),
            status=status if status in STATUSES else None,
            group_id=group_id,
            os=text("os", 100),
            tag=text("tag", 50),
            sort=sort if sort in device_queries.SORTS else "name",
            cursor=text("cursor", 500),
            limit=limit if limit in PAGE_SIZES else 50,
        )

    def query(self, **changes: Any) -> str:
        """The query string with `changes`; a change of filters starts at the first page."""
        if "cursor" not in changes:
            changes["cursor"] = None
        values = {**self.__dict__, **changes}
        defaults = DeviceFilters()
        kept = {
            k: str(v)
            for k, v in values.items()
            if v is not None and v != "" and v != getattr(defaults, k)
        }
        return urlencode(kept)

    def sort_link(self, column: str) -> str:
        """Ascending first; a second click on the sorted column reverses it."""
        return self.query(sort=f"-{column}" if self.sort == column else column)

    def sorted_by(self, column: str) -> str:
        if self.sort == column:
            return "ascending"
        if self.sort == f"-{column}":
            return "descending"
        return "none"

    @property
    def active(self) -> bool:
        return any((self.q, self.status, self.group_id, self.os, self.tag))

    def with_cursor(self, cursor: str | None) -> DeviceFilters:
        return replace(self, cursor=cursor)


def presence(device: dict[str, Any]) -> str:
    """One word for what a person wants to know first: can this device be reached?"""
    if device["status"] != "active":
        return str(device["status"])
    if device["online"]:
        return "online"
    return "offline" if device["last_seen_at"] else "never_seen"


def _row(device: dict[str, Any], group_names: dict[UUID, str]) -> dict[str, Any]:
    latest = device.get("latest") or {}
    state = presence(device)
    return {
        **device,
        "presence": state,
        "presence_label": STATUSES[state],
        "group_name": group_names.get(device["group_id"]) if device["group_id"] else None,
        "metrics": latest,
    }


async def _list(
    res: Resources, ctx: OrgContext, filters: DeviceFilters, limit: int | None = None
) -> dict[str, Any]:
    return await device_service.list_devices(
        res,
        ctx,
        status=filters.status,
        group_id=filters.group_id,
        q=filters.q,
        os_name=filters.os,
        tag=filters.tag,
        sort=filters.sort,
        cursor=filters.cursor,
        limit=limit or filters.limit,
    )


async def _lookups(res: Resources, ctx: OrgContext, whole_page: bool) -> dict[str, Any]:
    """Groups (for names and the group filter) and, for the whole page, the counts and OS
    names of the filters: one tenant transaction instead of one per lookup."""
    async with res.router.transaction(ctx.tenant) as conn:
        found: dict[str, Any] = {"groups": [dict(g) for g in await device_queries.groups(conn)]}
        if whole_page:
            found["counts"] = dict(await telemetry_queries.fleet_counts(conn))
            versions = await telemetry_queries.os_versions(conn)
            found["os_names"] = sorted(
                {v["os_name"] for v in versions if v["os_name"] != "unknown"}
            )
    return found


async def page(request: Request, ctx: DevicesRead, res: Res) -> Response:
    filters = DeviceFilters.from_query(request.query_params)
    fragment = wants_fragment(request, TABLE_ID)
    listed = await _list(res, ctx, filters)
    lookups = await _lookups(res, ctx, whole_page=not fragment)
    names = {g["id"]: g["name"] for g in lookups["groups"]}
    table = {
        "filters": filters,
        "devices": [_row(d, names) for d in listed["items"]],
        "next_cursor": listed["next_cursor"],
        "statuses": STATUSES,
        "table_id": TABLE_ID,
        "can": layout.Can(ctx.role),
    }
    if fragment:
        return render(request, "_device_table.html", {**table, "org": {"id": ctx.org_id}})
    context = await layout.in_org(res, ctx, "devices")
    context.update(table, **lookups, page_sizes=PAGE_SIZES)
    return render(request, "devices.html", context)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


CSV_COLUMNS = (
    ("id", "id"),
    ("name", "name"),
    ("hostname", "hostname"),
    ("state", "presence_label"),
    ("group", "group_name"),
    ("os", "os_name"),
    ("os_version", "os_version"),
    ("agent_version", "agent_version"),
    ("asset_tag", "asset_tag"),
    ("tags", "tags"),
    ("last_seen_utc", "last_seen_at"),
    ("enrolled_utc", "enrolled_at"),
)
CSV_METRICS = ("cpu_pct", "mem_pct", "disk_pct", "battery_pct")


async def csv_export(request: Request, ctx: DevicesRead, res: Res) -> Response:
    """Every device the filters match, streamed page by page (never all rows in memory)."""
    filters = DeviceFilters.from_query(request.query_params).with_cursor(None)
    names = {g["id"]: g["name"] for g in await device_service.list_groups(res, ctx)}

    async def lines() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([title for title, _ in CSV_COLUMNS] + list(CSV_METRICS))
        cursor: str | None = None
        while True:
            listed = await _list(res, ctx, filters.with_cursor(cursor), EXPORT_PAGE)
            for device in listed["items"]:
                row = _row(device, names)
                values: list[Any] = [row[key] for _, key in CSV_COLUMNS]
                values[CSV_COLUMNS.index(("tags", "tags"))] = ";".join(row["tags"])
                values += [row["metrics"].get(m) for m in CSV_METRICS]
                writer.writerow([_cell(v) for v in values])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            cursor = listed["next_cursor"]
            if cursor is None:
                return

    day = datetime.now(UTC).strftime("%Y-%m-%d")
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="devices-{day}.csv"',
            "Cache-Control": "no-store",
        },
    )
