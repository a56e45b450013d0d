"""API models of devices, groups and enrollment."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[\w .:/-]+$"),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnrollmentTokenCreate(Strict):
    label: Name
    expires_in_hours: int = Field(72, ge=1, le=24 * 365)
    max_uses: int = Field(1, ge=1, le=100_000)
    group_id: UUID | None = None


class DeviceUpdate(Strict):
    name: Name | None = None
    group_id: UUID | None = None
    tags: list[Tag] | None = Field(None, max_length=50)
    notes: Annotated[str, StringConstraints(max_length=5000)] | None = None
    asset_tag: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = (
        None
    )


class BulkDeviceAction(Strict):
    device_ids: list[UUID] = Field(min_length=1, max_length=1000)
    group_id: UUID | None = None
    move_to_group: bool = False
    add_tags: list[Tag] = Field(default_factory=list, max_length=20)


class GroupCreate(Strict):
    name: Name
    parent_id: UUID | None = None


class GroupUpdate(Strict):
    """Only the fields sent change: a rename keeps the parent, a move keeps the name."""

    name: Name | None = None
    parent_id: UUID | None = None


class EnrollRequest(Strict):
    token: Annotated[str, StringConstraints(min_length=10, max_length=200)]
    hostname: Annotated[str, StringConstraints(strip_whitespace=True, max_length=253)] | None = None
    name: Name | None = None


class AgentSettingsUpdate(Strict):
    telemetry_interval_s: int | None = Field(None, ge=1, le=3600)
    inventory_interval_h: int | None = Field(None, ge=1, le=24 * 7)
    allow_reboot: bool | None = None
    allow_shutdown: bool | None = None
