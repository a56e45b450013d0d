"""Membership rules.

- Owners may do anything to anyone; admins manage admins and readonly members but can neither
  touch owners nor make anyone an owner (that needs `owners:write`).
- The last owner can never be demoted or removed.
- Invitations are single-use, expire, and can only be accepted by the invited email address.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sentinel.alerts.notify import DeliveryError, send_message
from sentinel.api.problems import Forbidden, NotFound
from sentinel.api.resources import Resources
from sentinel.audit.service import Actor, record
from sentinel.auth.verifier import Principal
from sentinel.authz.guard import OrgContext
from sentinel.authz.permissions import Permission, Role, allowed
from sentinel.db.tenancy import Tenant
from sentinel.logging import get_logger
from sentinel.orgs import queries
from sentinel.orgs.errors import (
    AlreadyMember,
    InvitationEmailMismatch,
    InvitationInvalid,
    LastOwner,
)

log = get_logger(__name__)
INVITATION_PREFIX = "inv_"


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _check_owner_rules(ctx: OrgContext, current: Role, new: Role | None) -> None:
    touches_owner = current == Role.OWNER or new == Role.OWNER
    if touches_owner and not allowed(ctx.role, Permission.OWNERS_WRITE):
        raise Forbidden("Only owners can change owners or grant ownership.")


async def list_members(res: Resources, ctx: OrgContext) -> list[dict[str, Any]]:
    async with res.pool.acquire() as conn:
        return [dict(row) for row in await queries.members(conn, ctx.org_id)]


async def change_role(res: Resources, ctx: OrgContext, user_id: UUID, role: Role) -> dict[str, Any]:
    async with res.pool.acquire() as conn, conn.transaction():
        roles = await queries.lock_members(conn, ctx.org_id)
        if user_id not in roles:
            raise NotFound("No such member.")
        current = Role(roles[user_id])
        _check_owner_rules(ctx, current, role)
        owners = [u for u, r in roles.items() if r == Role.OWNER]
        if current == Role.OWNER and role != Role.OWNER and owners == [user_id]:
            raise LastOwner()
        if current != role:
            await queries.set_role(conn, ctx.org_id, user_id, role)
            email = await queries.user_email(conn, user_id)
            async with res.router.alongside(conn, ctx.tenant) as conn:
                await record(
                    conn,
                    ctx.actor,
                    "member.role_changed",
                    target_type="user",
                    target_id=str(user_id),
                    before={"role": current, "email": email},
                    after={"role": role, "email": email},
                )
    return {"user_id": user_id, "role": role}


async def remove_member(res: Resources, ctx: OrgContext, user_id: UUID) -> None:
    async with res.pool.acquire() as conn, conn.transaction():
        roles = await queries.lock_members(conn, ctx.org_id)
        if user_id not in roles:
            raise NotFound("No such member.")
        current = Role(roles[user_id])
        _check_owner_rules(ctx, current, None)
        if current == Role.OWNER and [u for u, r in roles.items() if r == Role.OWNER] == [user_id]:
            raise LastOwner()
        email = await queries.user_email(conn, user_id)
        await queries.delete_membership(conn, ctx.org_id, user_id)
        async with res.router.alongside(conn, ctx.tenant) as conn:
            await record(
                conn,
                ctx.actor,
                "member.removed",
                target_type="user",
                target_id=str(user_id),
                before={"role": current, "email": email},
            )


async def invite(res: Resources, ctx: OrgContext, email: str, role: Role) -> dict[str, Any]:
    _check_owner_rules(ctx, Role.READONLY, role)
    token = INVITATION_PREFIX + secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(hours=res.settings.invitation_ttl_hours)
    async with res.pool.acquire() as conn, conn.transaction():
        row = await queries.insert_invitation(
            conn,
            uuid.uuid4(),
            ctx.org_id,
            email,
            role,
            _token_hash(token),
            ctx.principal.user_id,
            expires,
        )
        async with res.router.alongside(conn, ctx.tenant) as conn:
            await record(
                conn,
                ctx.actor,
                "invitation.created",
                target_type="invitation",
                target_id=str(row["id"]),
                after={"email": email, "role": role},
            )
    accept_url = f"{res.settings.public_url}/invitations/accept#{token}"
    emailed = await _email_invitation(res, ctx, email, role, accept_url)
    # The link is also shown to the inviter, once, for when e-mail is off or does not arrive.
    return {**dict(row), "token": token, "accept_url": accept_url, "emailed": emailed}


async def _email_invitation(
    res: Resources, ctx: OrgContext, email: str, role: Role, accept_url: str
) -> bool:
    if not res.settings.smtp_host:
        return False
    body = (
        f"{ctx.principal.email or 'A colleague'} invited you to {ctx.name} on Sentinel "
        f"as {role}.\n\nAccept the invitation (valid for "
        f"{res.settings.invitation_ttl_hours} hours):\n{accept_url}\n\n"
        "If you did not expect this, ignore this message."
    )
    try:
        await send_message(
            res.settings, [email], f"You are invited to {ctx.name} on Sentinel", body
        )
    except DeliveryError as exc:
        log.warning("invitation e-mail not sent", error=str(exc))
        return False
    return True


async def list_invitations(res: Resources, ctx: OrgContext) -> list[dict[str, Any]]:
    async with res.pool.acquire() as conn:
        return [dict(row) for row in await queries.pending_invitations(conn, ctx.org_id)]


async def revoke_invitation(res: Resources, ctx: OrgContext, invitation_id: UUID) -> None:
    async with res.pool.acquire() as conn, conn.transaction():
        row = await queries.revoke_invitation(conn, ctx.org_id, invitation_id)
        if row is None:
            raise NotFound("No such pending invitation.")
        _check_owner_rules(ctx, Role(row["role"]), None)
        async with res.router.alongside(conn, ctx.tenant) as conn:
            await record(
                conn,
                ctx.actor,
                "invitation.revoked",
                target_type="invitation",
                target_id=str(invitation_id),
                before={"email": row["email"]},
            )


async def accept_invitation(
    res: Resources, principal: Principal, actor: Actor, token: str
) -> dict[str, Any]:
    async with res.pool.acquire() as conn, conn.transaction():
        row = await queries.invitation_for_update(conn, _token_hash(token))
        if (
            row is None
            or row["accepted_at"] is not None
            or row["revoked_at"] is not None
            or row["expires_at"] <= datetime.now(UTC)
        ):
            raise InvitationInvalid()
        email = await queries.user_email(conn, principal.user_id)
        if email is None or email.lower() != row["email"].lower():
            raise InvitationEmailMismatch()
        if not await queries.insert_membership(conn, row["org_id"], principal.user_id, row["role"]):
            raise AlreadyMember()
        await queries.mark_invitation_accepted(conn, row["id"])
        async with res.router.alongside(conn, Tenant(row["org_id"], row["shard"])) as conn:
            await record(
                conn,
                actor,
                "member.joined",
                target_type="user",
                target_id=str(principal.user_id),
                after={"role": row["role"], "email": email},
            )
    return {"org_id": row["org_id"], "name": row["name"], "role": row["role"]}
