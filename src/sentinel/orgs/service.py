"""Organization rules: atomic creation (row + schema + role + owner), rename, deletion."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from sentinel.api.resources import Resources
from sentinel.audit.service import Actor, record
from sentinel.auth.verifier import Principal
from sentinel.authz.guard import OrgContext
from sentinel.authz.permissions import Role
from sentinel.db.pools import DEFAULT_SHARD
from sentinel.logging import get_logger
from sentinel.orgs import queries
from sentinel.orgs.errors import ConfirmationMismatch
from sentinel.orgs.provisioning import Checkpoint, create_tenant, drop_tenant
from sentinel.privacy import erasure

log = get_logger(__name__)


async def create_org(
    res: Resources,
    principal: Principal,
    actor: Actor,
    name: str,
    checkpoint: Checkpoint | None = None,
) -> dict[str, Any]:
    """Create the organization, its schema and role, and make the creator its owner — all in
    one transaction on the owner connection (or, on another shard, schema first and the
    control rows second, with the schema dropped again if the second step fails)."""
    org_id = uuid.uuid4()
    shard = await place(res)
    if shard != DEFAULT_SHARD:
        return await _create_on_shard(res, principal, actor, name, org_id, shard)
    pool = await res.owner_pools.get(shard)
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.insert_org(conn, org_id, name, shard, principal.user_id)
        await create_tenant(conn, org_id, checkpoint)
        await queries.insert_membership(conn, org_id, principal.user_id, Role.OWNER)
        # create_tenant left the search path on the new schema for this transaction.
        await record(
            conn,
            actor,
            "org.created",
            target_type="organization",
            target_id=str(org_id),
            after={"name": name},
        )
        if checkpoint is not None:
            await checkpoint("owner_added")
    log.info("organization created", org_id=str(org_id))
    return {
        "id": row["id"],
        "name": row["name"],
        "role": Role.OWNER,
        "created_at": row["created_at"],
    }


async def place(res: Resources) -> str:
    """The shard for a new organization: `main`, or the one holding the fewest."""
    if res.settings.org_placement == "main" or not res.settings.extra_shards:
        return DEFAULT_SHARD
    async with res.pool.acquire() as conn:
        counts = await queries.orgs_per_shard(conn)
    return min(res.owner_pools.shards(), key=lambda shard: (counts.get(shard, 0), shard))


async def _create_on_shard(
    res: Resources, principal: Principal, actor: Actor, name: str, org_id: UUID, shard: str
) -> dict[str, Any]:
    pool = await res.owner_pools.get(shard)
    async with pool.acquire() as conn, conn.transaction():
        await create_tenant(conn, org_id)
        await record(
            conn,
            actor,
            "org.created",
            target_type="organization",
            target_id=str(org_id),
            after={"name": name, "shard": shard},
        )
    try:
        control = await res.owner_pools.get(DEFAULT_SHARD)
        async with control.acquire() as conn, conn.transaction():
            row = await queries.insert_org(conn, org_id, name, shard, principal.user_id)
            await queries.insert_membership(conn, org_id, principal.user_id, Role.OWNER)
    except BaseException:
        async with pool.acquire() as conn, conn.transaction():
            await drop_tenant(conn, org_id)
        raise
    log.info("organization created", org_id=str(org_id), shard=shard)
    return {
        "id": row["id"],
        "name": row["name"],
        "role": Role.OWNER,
        "created_at": row["created_at"],
    }


async def list_orgs(res: Resources, principal: Principal) -> list[dict[str, Any]]:
    async with res.pool.acquire() as conn:
        return [dict(row) for row in await queries.orgs_of_user(conn, principal.user_id)]


async def get_org(res: Resources, ctx: OrgContext) -> dict[str, Any]:
    async with res.pool.acquire() as conn:
        row = await queries.org(conn, ctx.org_id)
    assert row is not None  # the guard just found the membership
    return {"id": row["id"], "name": row["name"], "role": ctx.role, "created_at": row["created_at"]}


async def rename_org(res: Resources, ctx: OrgContext, name: str) -> dict[str, Any]:
    async with res.pool.acquire() as conn, conn.transaction():
        await queries.rename_org(conn, ctx.org_id, name)
        async with res.router.alongside(conn, ctx.tenant) as conn:
            await record(
                conn,
                ctx.actor,
                "org.renamed",
                target_type="organization",
                target_id=str(ctx.org_id),
                before={"name": ctx.name},
                after={"name": name},
            )
    return await get_org(res, ctx)


async def delete_org(res: Resources, ctx: OrgContext, confirm: str) -> UUID:
    """Drop the schema, the role, memberships, invitations and device credentials, then prove
    nothing remains; returns the id of the deletion receipt."""
    if confirm != ctx.name:
        raise ConfirmationMismatch()
    removed = await erasure.inventory_before(res, ctx.tenant)
    control = await res.owner_pools.get(DEFAULT_SHARD)
    shard = await res.owner_pools.get(ctx.tenant.shard)
    async with control.acquire() as conn, shard.acquire() as shard_conn:
        async with conn.transaction():
            await queries.delete_org(conn, ctx.org_id)
            if ctx.tenant.shard == DEFAULT_SHARD:
                await drop_tenant(conn, ctx.org_id)
        if ctx.tenant.shard != DEFAULT_SHARD:
            async with shard_conn.transaction():
                await drop_tenant(shard_conn, ctx.org_id)
        await erasure.sweep(res, ctx.org_id)
        found = await erasure.verify(res, ctx.org_id, conn, shard_conn)
    receipt_id = await erasure.record_receipt(
        res, ctx.org_id, ctx.name, ctx.principal.user_id, removed, found
    )
    log.info(
        "organization deleted",
        org_id=str(ctx.org_id),
        by=str(ctx.principal.user_id),
        verified=erasure.clean(found),
        receipt_id=str(receipt_id),
    )
    return receipt_id
