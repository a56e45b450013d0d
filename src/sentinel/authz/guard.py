"""The organization guard: membership from the path's `org_id`, then the route's permission.

Non-members — and ids of organizations that do not exist — get 404, so existence never leaks;
members whose role lacks the permission get 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request

from sentinel.api.deps import Res, client_ip
from sentinel.api.problems import Forbidden, NotFound, Problem
from sentinel.audit.service import Actor
from sentinel.auth.principal import CurrentUser
from sentinel.auth.verifier import Principal
from sentinel.authz.permissions import Permission, Role, allowed
from sentinel.db.tenancy import Tenant
from sentinel.orgs import queries as org_queries

PERMISSION_ATTR = "sentinel_permission"


class OrgMoving(Problem):
    """Only members reach this (the membership check comes first), so it reveals nothing."""

    status = 503
    code = "organization_moving"
    title = "This organization is being moved; try again in a minute"

    def __init__(self) -> None:
        super().__init__()
        self.headers = {"Retry-After": "30"}


@dataclass(frozen=True)
class OrgContext:
    tenant: Tenant
    name: str
    role: Role
    principal: Principal
    actor: Actor

    @property
    def org_id(self) -> UUID:
        return self.tenant.org_id


def actor_for(request: Request, principal: Principal) -> Actor:
    return Actor(
        "user",
        str(principal.user_id),
        principal.email,
        client_ip(request),
        getattr(request.state, "request_id", None),
    )


def require(permission: Permission) -> Any:
    """`Depends` that yields the caller's `OrgContext` if the role grants `permission`."""

    async def guard(org_id: str, request: Request, principal: CurrentUser, res: Res) -> OrgContext:
        try:
            org_uuid = UUID(org_id)
        except ValueError:
            raise NotFound("No such organization.") from None
        async with res.pool.acquire() as conn:
            row = await org_queries.membership(conn, org_uuid, principal.user_id)
        if row is None:
            raise NotFound("No such organization.")
        if row["moving"]:
            raise OrgMoving()
        role = Role(row["role"])
        if not allowed(role, permission):
            raise Forbidden(f"Your role ({role}) cannot do this.")
        context = OrgContext(
            Tenant(org_uuid, row["shard"]),
            row["name"],
            role,
            principal,
            actor_for(request, principal),
        )
        request.state.org = context
        return context

    setattr(guard, PERMISSION_ATTR, permission)
    return Depends(guard)


OrgGuard = Callable[..., Awaitable[OrgContext]]


OrgRead = Annotated[OrgContext, require(Permission.ORG_READ)]
OrgUpdate = Annotated[OrgContext, require(Permission.ORG_UPDATE)]
OrgDelete = Annotated[OrgContext, require(Permission.ORG_DELETE)]
MembersRead = Annotated[OrgContext, require(Permission.MEMBERS_READ)]
MembersWrite = Annotated[OrgContext, require(Permission.MEMBERS_WRITE)]
AuditRead = Annotated[OrgContext, require(Permission.AUDIT_READ)]
