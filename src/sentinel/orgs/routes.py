"""`/api/v1/orgs/*` and `/api/v1/invitations/accept`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response, status

from sentinel.api.deps import Res
from sentinel.auth.principal import CurrentUser
from sentinel.authz.guard import (
    MembersRead,
    MembersWrite,
    OrgDelete,
    OrgRead,
    OrgUpdate,
    actor_for,
)
from sentinel.orgs import members, service
from sentinel.orgs.schemas import (
    Invitation,
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    Member,
    MemberUpdate,
    Org,
    OrgCreate,
    OrgDeleteConfirm,
    OrgRename,
)

router = APIRouter(prefix="/api/v1", tags=["organizations"])


@router.post("/orgs", status_code=status.HTTP_201_CREATED, response_model=Org)
async def create_org(body: OrgCreate, request: Request, user: CurrentUser, res: Res) -> Any:
    await res.limiter.enforce("org_create", str(user.user_id))
    return await service.create_org(res, user, actor_for(request, user), body.name)


@router.get("/orgs", response_model=list[Org])
async def list_orgs(user: CurrentUser, res: Res) -> Any:
    return await service.list_orgs(res, user)


@router.get("/orgs/{org_id}", response_model=Org)
async def get_org(ctx: OrgRead, res: Res) -> Any:
    return await service.get_org(res, ctx)


@router.patch("/orgs/{org_id}", response_model=Org)
async def rename_org(body: OrgRename, ctx: OrgUpdate, res: Res) -> Any:
    return await service.rename_org(res, ctx, body.name)


@router.delete("/orgs/{org_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_org(body: OrgDeleteConfirm, ctx: OrgDelete, res: Res) -> Response:
    receipt_id = await service.delete_org(res, ctx, body.confirm)
    # The receipt outlives the organization: GET /api/v1/deletion-receipts/{id}.
    return Response(
        status_code=status.HTTP_204_NO_CONTENT,
        headers={"Sentinel-Deletion-Receipt": str(receipt_id)},
    )


@router.get("/orgs/{org_id}/members", response_model=list[Member])
async def list_members(ctx: MembersRead, res: Res) -> Any:
    return await members.list_members(res, ctx)


@router.patch("/orgs/{org_id}/members/{user_id}")
async def change_member_role(user_id: UUID, body: MemberUpdate, ctx: MembersWrite, res: Res) -> Any:
    return await members.change_role(res, ctx, user_id, body.role)


@router.delete("/orgs/{org_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(user_id: UUID, ctx: MembersWrite, res: Res) -> Response:
    await members.remove_member(res, ctx, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/orgs/{org_id}/invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitationCreated,
)
async def invite(body: InvitationCreate, ctx: MembersWrite, res: Res) -> Any:
    return await members.invite(res, ctx, body.email.lower(), body.role)


@router.get("/orgs/{org_id}/invitations", response_model=list[Invitation])
async def list_invitations(ctx: MembersRead, res: Res) -> Any:
    return await members.list_invitations(res, ctx)


@router.delete("/orgs/{org_id}/invitations/{invitation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_invitation(invitation_id: UUID, ctx: MembersWrite, res: Res) -> Response:
    await members.revoke_invitation(res, ctx, invitation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/invitations/accept")
async def accept_invitation(
    body: InvitationAccept, request: Request, user: CurrentUser, res: Res
) -> Any:
    return await members.accept_invitation(res, user, actor_for(request, user), body.token)
