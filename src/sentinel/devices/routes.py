"""`/api/v1/orgs/{org_id}/devices`, `/device-groups` and `/enrollment-tokens`."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from sentinel.api.deps import Res
from sentinel.audit.service import record
from sentinel.authz.guard import OrgContext, require
from sentinel.authz.permissions import Permission
from sentinel.devices import queries, service
from sentinel.devices.agent_config import agent_config, store_agent_settings
from sentinel.devices.schemas import (
    AgentSettingsUpdate,
    BulkDeviceAction,
    DeviceUpdate,
    EnrollmentTokenCreate,
    GroupCreate,
    GroupUpdate,
)

router = APIRouter(prefix="/api/v1/orgs/{org_id}", tags=["devices"])

DevicesRead = Annotated[OrgContext, require(Permission.DEVICES_READ)]
DevicesWrite = Annotated[OrgContext, require(Permission.DEVICES_WRITE)]
EnrollmentRead = Annotated[OrgContext, require(Permission.ENROLLMENT_READ)]
EnrollmentWrite = Annotated[OrgContext, require(Permission.ENROLLMENT_WRITE)]
NO_CONTENT = status.HTTP_204_NO_CONTENT
StatusFilter = Literal["online", "offline", "never_seen", "revoked", "decommissioned"]
Sort = Literal["name", "-name", "last_seen", "-last_seen", "enrolled", "-enrolled"]


@router.post("/enrollment-tokens", status_code=status.HTTP_201_CREATED)
async def create_enrollment_token(
    body: EnrollmentTokenCreate, ctx: EnrollmentWrite, res: Res
) -> dict[str, Any]:
    return await service.create_enrollment_token(res, ctx, body)


@router.get("/enrollment-tokens")
async def list_enrollment_tokens(ctx: EnrollmentRead, res: Res) -> list[dict[str, Any]]:
    return await service.list_enrollment_tokens(res, ctx)


@router.delete("/enrollment-tokens/{token_id}", status_code=NO_CONTENT)
async def revoke_enrollment_token(token_id: UUID, ctx: EnrollmentWrite, res: Res) -> Response:
    await service.revoke_enrollment_token(res, ctx, token_id)
    return Response(status_code=NO_CONTENT)


@router.get("/devices")
async def list_devices(
    ctx: DevicesRead,
    res: Res,
    status_filter: Annotated[StatusFilter | None, Query(alias="status")] = None,
    group_id: UUID | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    os: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    sort: Sort = "name",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    assert sort in queries.SORTS
    return await service.list_devices(
        res,
        ctx,
        status=status_filter,
        group_id=group_id,
        q=q,
        os_name=os,
        tag=tag,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )


@router.post("/devices/bulk")
async def bulk_update(body: BulkDeviceAction, ctx: DevicesWrite, res: Res) -> dict[str, int]:
    count = await service.bulk_update(
        res, ctx, body.device_ids, body.group_id, body.move_to_group, body.add_tags
    )
    return {"updated": count}


@router.get("/devices/{device_id}")
async def get_device(device_id: UUID, ctx: DevicesRead, res: Res) -> dict[str, Any]:
    return await service.get_device(res, ctx, device_id)


@router.patch("/devices/{device_id}")
async def update_device(
    device_id: UUID, body: DeviceUpdate, ctx: DevicesWrite, res: Res
) -> dict[str, Any]:
    return await service.update_device(res, ctx, device_id, body)


@router.post("/devices/{device_id}/rotate-token")
async def rotate_token(device_id: UUID, ctx: DevicesWrite, res: Res) -> dict[str, Any]:
    return await service.rotate_device_token(res, ctx, device_id)


@router.post("/devices/{device_id}/revoke", status_code=NO_CONTENT)
async def revoke(device_id: UUID, ctx: DevicesWrite, res: Res) -> Response:
    await service.revoke_device(res, ctx, device_id)
    return Response(status_code=NO_CONTENT)


@router.post("/devices/{device_id}/decommission", status_code=NO_CONTENT)
async def decommission(device_id: UUID, ctx: DevicesWrite, res: Res) -> Response:
    await service.decommission_device(res, ctx, device_id)
    return Response(status_code=NO_CONTENT)


@router.delete("/devices/{device_id}", status_code=NO_CONTENT)
async def delete_device(device_id: UUID, ctx: DevicesWrite, res: Res) -> Response:
    await service.delete_device(res, ctx, device_id)
    return Response(status_code=NO_CONTENT)


@router.get("/device-groups")
async def list_groups(ctx: DevicesRead, res: Res) -> list[dict[str, Any]]:
    return await service.list_groups(res, ctx)


@router.post("/device-groups", status_code=status.HTTP_201_CREATED)
async def create_group(body: GroupCreate, ctx: DevicesWrite, res: Res) -> dict[str, Any]:
    return await service.create_group(res, ctx, body.name, body.parent_id)


@router.patch("/device-groups/{group_id}")
async def update_group(
    group_id: UUID, body: GroupUpdate, ctx: DevicesWrite, res: Res
) -> dict[str, Any]:
    return await service.update_group(res, ctx, group_id, body)


@router.delete("/device-groups/{group_id}", status_code=NO_CONTENT)
async def delete_group(group_id: UUID, ctx: DevicesWrite, res: Res) -> Response:
    await service.delete_group(res, ctx, group_id)
    return Response(status_code=NO_CONTENT)


@router.get("/agent-settings")
async def get_agent_settings(ctx: DevicesRead, res: Res) -> dict[str, Any]:
    async with res.router.transaction(ctx.tenant) as conn:
        return await agent_config(conn, res.settings)


@router.patch("/agent-settings")
async def update_agent_settings(
    body: AgentSettingsUpdate, ctx: DevicesWrite, res: Res
) -> dict[str, Any]:
    changes = body.model_dump(exclude_none=True)
    async with res.router.transaction(ctx.tenant) as conn:
        before = await store_agent_settings(conn, changes)
        await record(
            conn,
            ctx.actor,
            "agent_settings.updated",
            target_type="settings",
            target_id="agent",
            before={k: before.get(k) for k in changes},
            after=changes,
        )
        return await agent_config(conn, res.settings)
