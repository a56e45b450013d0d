"""The one role → permission table. Routes declare a permission; nothing checks roles ad hoc."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    READONLY = "readonly"


class Permission(StrEnum):
    ORG_READ = "org:read"
    ORG_UPDATE = "org:update"
    ORG_DELETE = "org:delete"
    MEMBERS_READ = "members:read"
    MEMBERS_WRITE = "members:write"
    OWNERS_WRITE = "owners:write"
    AUDIT_READ = "audit:read"
    DEVICES_READ = "devices:read"
    DEVICES_WRITE = "devices:write"
    ENROLLMENT_READ = "enrollment:read"
    ENROLLMENT_WRITE = "enrollment:write"
    COMMANDS_WRITE = "commands:write"
    ALERTS_READ = "alerts:read"
    ALERTS_WRITE = "alerts:write"
    BILLING_READ = "billing:read"
    BILLING_WRITE = "billing:write"
    PRIVACY_WRITE = "privacy:write"
    EXPORTS_READ = "exports:read"
    EXPORTS_WRITE = "exports:write"

    @property
    def is_read(self) -> bool:
        return self.value.endswith(":read")


READ_PERMISSIONS = frozenset(p for p in Permission if p.is_read)
_OWNER_ONLY = frozenset(
    {
        Permission.ORG_DELETE,
        Permission.OWNERS_WRITE,
        Permission.BILLING_WRITE,
        Permission.PRIVACY_WRITE,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ADMIN: frozenset(Permission) - _OWNER_ONLY,
    Role.READONLY: READ_PERMISSIONS,
}


def allowed(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]
