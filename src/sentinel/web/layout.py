"""What every page's layout needs: who is signed in, their organizations (for the switcher),
and inside an organization its name, the viewer's role and what that role may do.

Templates decide which controls to show with `can("devices:write")`, read from the one
role → permission table; the API refuses the same actions on its own, whatever a page shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sentinel.api.resources import Resources
from sentinel.auth.verifier import Principal
from sentinel.authz.guard import OrgContext
from sentinel.authz.permissions import Permission, Role, allowed
from sentinel.orgs import service as org_service


@dataclass(frozen=True)
class Can:
    role: Role | None

    def __call__(self, permission: str) -> bool:
        return self.role is not None and allowed(self.role, Permission(permission))


async def personal(res: Resources, principal: Principal, section: str) -> dict[str, Any]:
    """Context of pages outside any organization (account, organization list)."""
    return {
        "user": principal,
        "orgs": await org_service.list_orgs(res, principal),
        "org": None,
        "section": section,
        "can": Can(None),
    }


async def in_org(res: Resources, ctx: OrgContext, section: str) -> dict[str, Any]:
    """Context of an organization's pages; `section` highlights the navigation entry."""
    context = await personal(res, ctx.principal, section)
    context["org"] = {"id": ctx.org_id, "name": ctx.name, "role": ctx.role}
    context["can"] = Can(ctx.role)
    return context
