"""`GET …/devices/{device_id}/telemetry` and `GET …/fleet/summary`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from sentinel.api.deps import Res
from sentinel.api.problems import NotFound, Problem
from sentinel.authz.guard import OrgContext, require
from sentinel.authz.permissions import Permission
from sentinel.telemetry import queries

router = APIRouter(prefix="/api/v1/orgs/{org_id}", tags=["telemetry"])
DevicesRead = Annotated[OrgContext, require(Permission.DEVICES_READ)]
MAX_POINTS = 5000


class InvalidRange(Problem):
    status = 422
    code = "invalid_range"
    title = "Invalid time range"


@router.get("/devices/{device_id}/telemetry")
async def device_telemetry(
    device_id: UUID,
    ctx: DevicesRead,
    res: Res,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    step: Annotated[int, Query(ge=1, le=86_400)] = 60,
    metrics: Annotated[str, Query(max_length=300)] = "cpu_pct,mem_pct,disk_pct,battery_pct",
) -> dict[str, Any]:
    end = end or datetime.now(UTC)
    start = start or end - timedelta(hours=1)
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidRange("Give times with a time zone (e.g. 2026-11-29T08:00:00Z).")
    if start >= end:
        raise InvalidRange("`from` must be before `to`.")
    if (end - start).total_seconds() / step > MAX_POINTS:
        raise InvalidRange(f"At most {MAX_POINTS} points; choose a larger `step`.")
    chosen = [m.strip() for m in metrics.split(",") if m.strip()]
    unknown = sorted(set(chosen) - set(queries.NUMERIC_METRICS))
    if unknown or not chosen:
        raise InvalidRange(
            f"Unknown metrics: {', '.join(unknown) or '(none given)'}.",
            known=list(queries.NUMERIC_METRICS),
        )
    async with res.router.transaction(ctx.tenant) as conn:
        if not await queries.device_exists(conn, device_id):
            raise NotFound("No such device.")
        rows = await queries.series(conn, device_id, start, end, step, chosen)
    return {
        "device_id": device_id,
        "from": start,
        "to": end,
        "step": step,
        "metrics": chosen,
        "points": [dict(row) for row in rows],
    }


@router.get("/fleet/summary")
async def fleet_summary(ctx: DevicesRead, res: Res) -> dict[str, Any]:
    async with res.router.transaction(ctx.tenant) as conn:
        counts = await queries.fleet_counts(conn)
        versions = await queries.os_versions(conn)
    return {"counts": dict(counts), "os_versions": [dict(v) for v in versions]}
