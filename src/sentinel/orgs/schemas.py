"""API models of organizations, members and invitations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, StringConstraints

from sentinel.authz.permissions import Role

OrgName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrgCreate(Strict):
    name: OrgName


class OrgRename(Strict):
    name: OrgName


class OrgDeleteConfirm(Strict):
    confirm: str


class Org(BaseModel):
    id: UUID
    name: str
    role: Role
    created_at: datetime


class Member(BaseModel):
    user_id: UUID
    email: str
    role: Role
    created_at: datetime


class MemberUpdate(Strict):
    role: Role


class InvitationCreate(Strict):
    email: EmailStr
    role: Role = Role.READONLY


class Invitation(BaseModel):
    id: UUID
    email: str
    role: Role
    created_at: datetime
    expires_at: datetime


class InvitationCreated(Invitation):
    token: str
    accept_url: str
    emailed: bool = False


class InvitationAccept(Strict):
    token: Annotated[str, StringConstraints(min_length=10, max_length=200)]
