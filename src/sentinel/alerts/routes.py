"""`/api/v1/orgs/{org_id}/alerts`, `/alert-rules`, `/notification-channels`, `/school-hours`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from sentinel.alerts import schedule, service
from sentinel.alerts.schemas import ChannelCreate, ChannelUpdate, RuleFields, RuleUpdate
from sentinel.api.deps import Res
from sentinel.authz.guard import OrgContext, require
from sentinel.authz.permissions import Permission

router = APIRouter(prefix="/api/v1/orgs/{org_id}", tags=["alerts"])
AlertsRead = Annotated[OrgContext, require(Permission.ALERTS_READ)]
AlertsWrite = Annotated[OrgContext, require(Permission.ALERTS_WRITE)]
NO_CONTENT = status.HTTP_204_NO_CONTENT
State = Literal["open", "acknowledged", "resolved"]


@router.get("/alerts")
async def list_alerts(
    ctx: AlertsRead,
    res: Res,
    state: Annotated[list[State] | None, Query()] = None,
    device_id: UUID | None = None,
    rule_id: UUID | None = None,
    before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    states = list(state or ["open", "acknowledged"])
    return await service.list_alerts(res, ctx, states, device_id, rule_id, before, limit)


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge(alert_id: UUID, ctx: AlertsWrite, res: Res) -> dict[str, Any]:
    return await service.acknowledge(res, ctx, alert_id)


@router.post("/alerts/{alert_id}/resolve")
async def resolve(alert_id: UUID, ctx: AlertsWrite, res: Res) -> dict[str, Any]:
    return await service.resolve(res, ctx, alert_id)


@router.get("/alert-rules")
async def list_rules(ctx: AlertsRead, res: Res) -> list[dict[str, Any]]:
    return await service.list_rules(res, ctx)


@router.post("/alert-rules", status_code=status.HTTP_201_CREATED)
async def create_rule(body: RuleFields, ctx: AlertsWrite, res: Res) -> dict[str, Any]:
    return await service.create_rule(res, ctx, body)


@router.patch("/alert-rules/{rule_id}")
async def update_rule(
    rule_id: UUID, body: RuleUpdate, ctx: AlertsWrite, res: Res
) -> dict[str, Any]:
    return await service.update_rule(res, ctx, rule_id, body)


@router.delete("/alert-rules/{rule_id}", status_code=NO_CONTENT)
async def delete_rule(rule_id: UUID, ctx: AlertsWrite, res: Res) -> Response:
    await service.delete_rule(res, ctx, rule_id)
    return Response(status_code=NO_CONTENT)


@router.get("/notification-channels")
async def list_channels(ctx: AlertsRead, res: Res) -> list[dict[str, Any]]:
    return await service.list_channels(res, ctx)


@router.post("/notification-channels", status_code=status.HTTP_201_CREATED)
async def create_channel(body: ChannelCreate, ctx: AlertsWrite, res: Res) -> dict[str, Any]:
    return await service.create_channel(res, ctx, body)


@router.patch("/notification-channels/{channel_id}")
async def update_channel(
    channel_id: UUID, body: ChannelUpdate, ctx: AlertsWrite, res: Res
) -> dict[str, Any]:
    return await service.update_channel(res, ctx, channel_id, body)


@router.delete("/notification-channels/{channel_id}", status_code=NO_CONTENT)
async def delete_channel(channel_id: UUID, ctx: AlertsWrite, res: Res) -> Response:
    await service.delete_channel(res, ctx, channel_id)
    return Response(status_code=NO_CONTENT)


@router.post("/notification-channels/{channel_id}/test")
async def test_channel(channel_id: UUID, ctx: AlertsWrite, res: Res) -> dict[str, Any]:
    return await service.test_channel(res, ctx, channel_id)


@router.get("/notification-channels/{channel_id}/deliveries")
async def deliveries(channel_id: UUID, ctx: AlertsRead, res: Res) -> list[dict[str, Any]]:
    return await service.channel_deliveries(res, ctx, channel_id)


@router.get("/school-hours")
async def get_school_hours(ctx: AlertsRead, res: Res) -> dict[str, Any]:
    return await service.get_school_hours(res, ctx)


@router.put("/school-hours")
async def set_school_hours(
    body: schedule.SchoolHours, ctx: AlertsWrite, res: Res
) -> dict[str, Any]:
    return await service.set_school_hours(res, ctx, body)
