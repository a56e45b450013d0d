"""`/api/v1/orgs/{org_id}/devices/{device_id}/commands`."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from sentinel.api.deps import Res
from sentinel.authz.guard import OrgContext, require
from sentinel.authz.permissions import Permission
from sentinel.commands import service

router = APIRouter(prefix="/api/v1/orgs/{org_id}/devices/{device_id}", tags=["commands"])
CommandsWrite = Annotated[OrgContext, require(Permission.COMMANDS_WRITE)]
DevicesRead = Annotated[OrgContext, require(Permission.DEVICES_READ)]


class CommandCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=50)
    args: dict[str, Any] = Field(default_factory=dict)
    expires_in_s: int = Field(3600, ge=10, le=7 * 24 * 3600)


@router.post("/commands", status_code=status.HTTP_201_CREATED)
async def create_command(
    device_id: UUID, body: CommandCreate, ctx: CommandsWrite, res: Res
) -> dict[str, Any]:
    return await service.create(res, ctx, device_id, body.name, body.args, body.expires_in_s)


@router.get("/commands")
async def list_commands(
    device_id: UUID, ctx: DevicesRead, res: Res, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[dict[str, Any]]:
    return await service.list_for_device(res, ctx, device_id, limit)
