"""The organization guards the dashboard's routes declare: one read permission per page, from
the same `require` as the API, so the generated RBAC and cross-tenant matrices cover every page.
"""

from __future__ import annotations

from typing import Annotated

from sentinel.authz.guard import AuditRead, MembersRead, OrgContext, require
from sentinel.authz.permissions import Permission

DevicesRead = Annotated[OrgContext, require(Permission.DEVICES_READ)]
EnrollmentRead = Annotated[OrgContext, require(Permission.ENROLLMENT_READ)]
AlertsRead = Annotated[OrgContext, require(Permission.ALERTS_READ)]
BillingRead = Annotated[OrgContext, require(Permission.BILLING_READ)]
OrgRead = Annotated[OrgContext, require(Permission.ORG_READ)]

__all__ = [
    "AlertsRead",
    "AuditRead",
    "BillingRead",
    "DevicesRead",
    "EnrollmentRead",
    "MembersRead",
    "OrgRead",
]
