"""Members and invitations: roles, invitations with a copy-once link, and only the controls
the viewer's role allows (owners alone touch owners)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from sentinel.api.deps import Res
from sentinel.api.resources import Resources
from sentinel.authz.guard import OrgContext
from sentinel.authz.permissions import Permission, Role, allowed
from sentinel.orgs import members as member_service
from sentinel.web import layout
from sentinel.web.access import MembersRead
from sentinel.web.rendering import render

ROLE_HELP = {
    Role.OWNER: "Everything, including billing, members and deleting the organization.",
    Role.ADMIN: "Devices, enrollment, commands and members other than owners.",
    Role.READONLY: "Sees everything, changes nothing.",
}


def grantable_roles(ctx: OrgContext) -> list[Role]:
    """Roles the viewer may give: owner only by owners, nothing without members:write."""
    if not allowed(ctx.role, Permission.MEMBERS_WRITE):
        return []
    roles = [Role.READONLY, Role.ADMIN]
    if allowed(ctx.role, Permission.OWNERS_WRITE):
        roles.append(Role.OWNER)
    return roles


async def _people(res: Resources, ctx: OrgContext) -> dict[str, Any]:
    grantable = grantable_roles(ctx)
    members = await member_service.list_members(res, ctx)
    for member in members:
        member["you"] = member["user_id"] == ctx.principal.user_id
        member["editable"] = bool(grantable) and (
            member["role"] != Role.OWNER or Role.OWNER in grantable
        )
    invitations = await member_service.list_invitations(res, ctx)
    for invitation in invitations:
        invitation["revocable"] = bool(grantable) and (
            invitation["role"] != Role.OWNER or Role.OWNER in grantable
        )
    return {
        "members": members,
        "invitations": invitations,
        "grantable": grantable,
        "role_help": ROLE_HELP,
    }


async def page(request: Request, ctx: MembersRead, res: Res) -> Response:
    context = await layout.in_org(res, ctx, "members")
    context.update(await _people(res, ctx))
    return render(request, "members.html", context)


async def people(request: Request, ctx: MembersRead, res: Res) -> Response:
    context = await layout.in_org(res, ctx, "members")
    context.update(await _people(res, ctx))
    return render(request, "_people.html", context)
