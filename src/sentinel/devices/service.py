"""Device rules: enrollment within seat limits, credentials shown once, revoke/rotate/
decommission that reach the broker within seconds, and every change audit-logged.

Changes that touch both the control-plane credential index and the tenant's device table run
in one transaction (control first, then `router.enter` narrows it to the tenant).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from sentinel.api.problems import Conflict, NotFound
from sentinel.api.resources import Resources
from sentinel.audit.service import Actor, record
from sentinel.authz.guard import OrgContext, OrgMoving
from sentinel.db.tenancy import Tenant
from sentinel.devices import queries
from sentinel.devices.credentials import (
    broker_username,
    issue_device_token,
    issue_enrollment_token,
    sha256,
)
from sentinel.devices.errors import (
    DeviceNotActive,
    EnrollmentTokenInvalid,
    GroupCycle,
    GroupNotEmpty,
    InvalidCursor,
    SeatLimitReached,
)
from sentinel.devices.schemas import DeviceUpdate, EnrollmentTokenCreate, GroupUpdate
from sentinel.live.events import publish
from sentinel.logging import get_logger

log = get_logger(__name__)


def _public(row: asyncpg.Record) -> dict[str, Any]:
    data = dict(row)
    data.pop("sort_key", None)
    return data


async def _require_group(conn: asyncpg.Connection, group_id: UUID | None) -> None:
    if group_id is not None and await queries.group(conn, group_id) is None:
        raise NotFound("No such device group.")


# --- enrollment tokens -------------------------------------------------------------------------


async def create_enrollment_token(
    res: Resources, ctx: OrgContext, body: EnrollmentTokenCreate
) -> dict[str, Any]:
    token, digest = issue_enrollment_token()
    expires = datetime.now(UTC) + timedelta(hours=body.expires_in_hours)
    async with res.pool.acquire() as conn, conn.transaction():
        row = await queries.insert_enrollment_token(
            conn,
            uuid.uuid4(),
            ctx.org_id,
            digest,
            body.label,
            body.group_id,
            expires,
            body.max_uses,
            ctx.principal.user_id,
        )
        async with res.router.alongside(conn, ctx.tenant) as conn:
            await _require_group(conn, body.group_id)
            await record(
                conn,
                ctx.actor,
                "enrollment_token.created",
                target_type="enrollment_token",
                target_id=str(row["id"]),
                after={
                    "label": body.label,
                    "max_uses": body.max_uses,
                    "expires_at": expires.isoformat(),
                    "group_id": body.group_id,
                },
            )
    return {**dict(row), "token": token}


async def list_enrollment_tokens(res: Resources, ctx: OrgContext) -> list[dict[str, Any]]:
    async with res.pool.acquire() as conn:
        return [dict(r) for r in await queries.enrollment_tokens(conn, ctx.org_id)]


async def revoke_enrollment_token(res: Resources, ctx: OrgContext, token_id: UUID) -> None:
    async with res.pool.acquire() as conn, conn.transaction():
        row = await queries.revoke_enrollment_token(conn, ctx.org_id, token_id)
        if row is None:
            raise NotFound("No such active enrollment token.")
        async with res.router.alongside(conn, ctx.tenant) as conn:
            await record(
                conn,
                ctx.actor,
                "enrollment_token.revoked",
                target_type="enrollment_token",
                target_id=str(token_id),
                before={"label": row["label"]},
            )


# --- enrollment (called by the agent) -----------------------------------------------------------


@dataclass(frozen=True)
class Enrolled:
    org_id: UUID
    device_id: UUID
    token: str
    username: str


async def enroll(
    res: Resources, token: str, hostname: str | None, name: str | None, ip: str | None
) -> Enrolled:
    issued = issue_device_token()
    device_id = uuid.uuid4()
    async with res.pool.acquire() as conn, conn.transaction():
        row = await queries.enrollment_token_for_update(conn, sha256(token))
        now = datetime.now(UTC)
        if (
            row is None
            or row["revoked_at"] is not None
            or row["expires_at"] <= now
            or row["uses"] >= row["max_uses"]
        ):
            raise EnrollmentTokenInvalid()
        if row["moving"]:
            raise OrgMoving()
        org_id: UUID = row["org_id"]
        used = await queries.seats_used(conn, org_id)
        if used >= row["seat_limit"]:
            raise SeatLimitReached(
                f"{used} of {row['seat_limit']} seats are in use; decommission a device or add "
                "seats.",
                seats_used=used,
                seat_limit=row["seat_limit"],
            )
        username = broker_username(org_id, device_id)
        await queries.insert_credential(
            conn, device_id, org_id, issued.sha256, username, issued.broker_hash
        )
        await queries.use_enrollment_token(conn, row["id"])
        async with res.router.alongside(conn, Tenant(org_id, row["shard"])) as conn:
            group_id = row["group_id"]
            if group_id is not None and await queries.group(conn, group_id) is None:
                group_id = None  # the group was deleted after the token was made
            device = await queries.insert_device(
                conn, device_id, name or hostname or "New device", hostname, group_id, row["id"]
            )
            actor = Actor("device", str(device_id), device["name"], ip)
            await record(
                conn,
                actor,
                "device.enrolled",
                target_type="device",
                target_id=str(device_id),
                after={
                    "name": device["name"],
                    "hostname": hostname,
                    "enrollment_token": row["label"],
                },
            )
    await publish(res.redis, org_id, "device.enrolled", device_id=device_id, name=device["name"])
    log.info("device enrolled", org_id=str(org_id), device_id=str(device_id))
    return Enrolled(org_id, device_id, issued.token, username)


# --- devices -------------------------------------------------------------------------------------


def encode_cursor(row: asyncpg.Record) -> str:
    raw = json.dumps([str(row["sort_key"]), str(row["id"])]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[str, UUID]:
    """The (sort value, id) a cursor holds; the value must fit the sort (a time for the time
    sorts), or the query would fail on the cast."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, device_id = json.loads(raw)
        if not isinstance(value, str):
            raise TypeError("the sort value is not a string")
        if queries.sort_is_time(sort):
            datetime.fromisoformat(value)
        return value, UUID(device_id)
    except (ValueError, TypeError) as exc:
        raise InvalidCursor() from exc


async def list_devices(
    res: Resources,
    ctx: OrgContext,
    *,
    status: str | None,
    group_id: UUID | None,
    q: str | None,
    os_name: str | None,
    tag: str | None,
    sort: str,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    after = decode_cursor(cursor, sort) if cursor else None
    async with res.router.transaction(ctx.tenant) as conn:
        group_ids = await queries.group_subtree(conn, group_id) if group_id else None
        if group_id and not group_ids:
            raise NotFound("No such device group.")
        rows = await queries.list_devices(
            conn,
            status=status,
            group_ids=group_ids,
            q=q,
            os_name=os_name,
            tag=tag,
            sort=sort,
            after=after,
            limit=limit + 1,
        )
    page = rows[:limit]
    return {
        "items": [_public(r) for r in page],
        "next_cursor": encode_cursor(page[-1]) if len(rows) > limit else None,
    }


async def get_device(res: Resources, ctx: OrgContext, device_id: UUID) -> dict[str, Any]:
    async with res.router.transaction(ctx.tenant) as conn:
        row = await queries.device(conn, device_id)
    if row is None:
        raise NotFound("No such device.")
    return _public(row)


async def update_device(
    res: Resources, ctx: OrgContext, device_id: UUID, body: DeviceUpdate
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    async with res.router.transaction(ctx.tenant) as conn:
        before = await queries.device(conn, device_id)
        if before is None:
            raise NotFound("No such device.")
        if "group_id" in changes:
            await _require_group(conn, changes["group_id"])
        if "name" in changes and changes["name"] is None:
            del changes["name"]
        if "notes" in changes and changes["notes"] is None:
            changes["notes"] = ""  # the column is NOT NULL: null clears the notes
        if "tags" in changes:
            changes["tags"] = sorted(set(changes["tags"] or []))
        if not changes:
            return _public(before)
        after = await queries.update_device(conn, device_id, changes)
        assert after is not None
        await record(
            conn,
            ctx.actor,
            "device.updated",
            target_type="device",
            target_id=str(device_id),
            before={k: before[k] for k in changes},
            after={k: after[k] for k in changes},
        )
    await publish(res.redis, ctx.org_id, "device.updated", device_id=device_id)
    return _public(after)


async def _change_credential(
    res: Resources, ctx: OrgContext, device_id: UUID, status: str, action: str
) -> None:
    async with res.pool.acquire() as conn, conn.transaction():
        current = await queries.credential_status_for_update(conn, ctx.org_id, device_id)
        if current == "decommissioned" and status == "revoked":
            # Decommissioned is final; "revoked" would take the device's seat back.
            raise DeviceNotActive()
        await queries.set_credential_status(conn, ctx.org_id, device_id, status)
        async with res.router.alongside(conn, ctx.tenant) as conn:
            device = await queries.device(conn, device_id)
            if device is None:
                raise NotFound("No such device.")
            await queries.set_device_status(conn, device_id, status)
            await record(
                conn,
                ctx.actor,
                action,
                target_type="device",
                target_id=str(device_id),
                before={"status": device["status"]},
                after={"status": status},
            )
    await publish(
        res.redis, ctx.org_id, "presence", device_id=device_id, online=False, status=status
    )


async def revoke_device(res: Resources, ctx: OrgContext, device_id: UUID) -> None:
    await _change_credential(res, ctx, device_id, "revoked", "device.revoked")


async def decommission_device(res: Resources, ctx: OrgContext, device_id: UUID) -> None:
    await _change_credential(res, ctx, device_id, "decommissioned", "device.decommissioned")


async def rotate_device_token(res: Resources, ctx: OrgContext, device_id: UUID) -> dict[str, Any]:
    issued = issue_device_token()
    async with res.pool.acquire() as conn, conn.transaction():
        rotated = await queries.rotate_credential(
            conn, ctx.org_id, device_id, issued.sha256, issued.broker_hash
        )
        async with res.router.alongside(conn, ctx.tenant) as conn:
            if await queries.device(conn, device_id) is None:
                raise NotFound("No such device.")
            if not rotated:
                raise DeviceNotActive()
            await record(
                conn,
                ctx.actor,
                "device.token_rotated",
                target_type="device",
                target_id=str(device_id),
            )
    return {
        "device_id": device_id,
        "device_token": issued.token,
        "mqtt_username": broker_username(ctx.org_id, device_id),
    }


async def delete_device(res: Resources, ctx: OrgContext, device_id: UUID) -> None:
    async with res.pool.acquire() as conn, conn.transaction():
        await queries.delete_credential(conn, ctx.org_id, device_id)
        async with res.router.alongside(conn, ctx.tenant) as conn:
            device = await queries.device(conn, device_id)
            if device is None:
                raise NotFound("No such device.")
            await queries.delete_device(conn, device_id)
            await record(
                conn,
                ctx.actor,
                "device.deleted",
                target_type="device",
                target_id=str(device_id),
                before={"name": device["name"]},
            )
    await publish(res.redis, ctx.org_id, "device.deleted", device_id=device_id)


async def bulk_update(
    res: Resources,
    ctx: OrgContext,
    device_ids: list[UUID],
    group_id: UUID | None,
    move: bool,
    add_tags: list[str],
) -> int:
    async with res.router.transaction(ctx.tenant) as conn:
        if move:
            await _require_group(conn, group_id)
        count = await queries.bulk_update(
            conn, device_ids, group_id=group_id, set_group=move, add_tags=add_tags
        )
        await record(
            conn,
            ctx.actor,
            "device.bulk_updated",
            target_type="device",
            after={
                "devices": [str(d) for d in device_ids],
                "count": count,
                "group_id": group_id if move else None,
                "add_tags": add_tags,
            },
        )
    return count


# --- groups --------------------------------------------------------------------------------------


async def list_groups(res: Resources, ctx: OrgContext) -> list[dict[str, Any]]:
    async with res.router.transaction(ctx.tenant) as conn:
        return [dict(r) for r in await queries.groups(conn)]


async def create_group(
    res: Resources, ctx: OrgContext, name: str, parent_id: UUID | None
) -> dict[str, Any]:
    async with res.router.transaction(ctx.tenant) as conn:
        await _require_group(conn, parent_id)
        try:
            row = await queries.insert_group(conn, uuid.uuid4(), name, parent_id)
        except asyncpg.UniqueViolationError:
            raise Conflict("A group with this name already exists here.") from None
        await record(
            conn,
            ctx.actor,
            "group.created",
            target_type="group",
            target_id=str(row["id"]),
            after={"name": name, "parent_id": parent_id},
        )
    return dict(row)


async def update_group(
    res: Resources, ctx: OrgContext, group_id: UUID, body: GroupUpdate
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    async with res.router.transaction(ctx.tenant) as conn:
        if "parent_id" in changes:
            # Serialize moves: two concurrent moves could each pass the cycle check against the
            # tree the other has not committed yet (A under B and B under A).
            await queries.lock_group_tree(conn)
        before = await queries.group(conn, group_id)
        if before is None:
            raise NotFound("No such device group.")
        name: str = changes.get("name") or before["name"]
        parent_id: UUID | None = changes.get("parent_id", before["parent_id"])
        await _require_group(conn, parent_id)
        if parent_id is not None and parent_id in await queries.group_subtree(conn, group_id):
            raise GroupCycle()
        try:
            row = await queries.update_group(conn, group_id, name, parent_id)
        except asyncpg.UniqueViolationError:
            raise Conflict("A group with this name already exists here.") from None
        assert row is not None
        await record(
            conn,
            ctx.actor,
            "group.updated",
            target_type="group",
            target_id=str(group_id),
            before={"name": before["name"], "parent_id": before["parent_id"]},
            after={"name": name, "parent_id": parent_id},
        )
    return dict(row)


async def delete_group(res: Resources, ctx: OrgContext, group_id: UUID) -> None:
    async with res.router.transaction(ctx.tenant) as conn:
        before = await queries.group(conn, group_id)
        if before is None:
            raise NotFound("No such device group.")
        if len(await queries.group_subtree(conn, group_id)) > 1:
            raise GroupNotEmpty()
        await queries.delete_group(conn, group_id)
        await record(
            conn,
            ctx.actor,
            "group.deleted",
            target_type="group",
            target_id=str(group_id),
            before={"name": before["name"]},
        )
