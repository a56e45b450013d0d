"""Operator commands that talk to the database directly (as the owner role): for the people
who run a deployment, not for school staff."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from sentinel.api.resources import Resources
from sentinel.audit.service import Actor, record
from sentinel.broker.sync import BrokerCredentialSync
from sentinel.config import Settings
from sentinel.db.pools import DEFAULT_SHARD
from sentinel.db.tenancy import Tenant
from sentinel.devices import queries as device_queries
from sentinel.ingest.metrics import STATS_KEY
from sentinel.orgs import queries as org_queries
from sentinel.privacy.exports import ExportRange, build_archive, members_of

OPERATOR = Actor("system", None, "operator (sentinel CLI)")


async def list_devices(settings: Settings, org_id: UUID) -> list[dict[str, Any]]:
    res = await Resources.open(settings)
    try:
        async with res.pool.acquire() as conn:
            org = await org_queries.org(conn, org_id)
        if org is None:
            raise LookupError(f"no organization {org_id}")
        async with res.router.transaction(Tenant(org_id, org["shard"])) as conn:
            rows = await device_queries.list_devices(
                conn,
                status=None,
                group_ids=None,
                q=None,
                os_name=None,
                tag=None,
                sort="name",
                after=None,
                limit=100_000,
            )
        return [
            {
                "id": str(r["id"]),
                "name": r["name"],
                "status": r["status"],
                "online": r["online"],
                "last_seen_at": r["last_seen_at"],
            }
            for r in rows
        ]
    finally:
        await res.close()


async def revoke_device(settings: Settings, org_id: UUID, device_id: UUID) -> bool:
    res = await Resources.open(settings)
    try:
        async with res.pool.acquire() as conn, conn.transaction():
            org = await org_queries.org(conn, org_id)
            if org is None:
                return False
            await device_queries.set_credential_status(conn, org_id, device_id, "revoked")
            async with res.router.alongside(conn, Tenant(org_id, org["shard"])) as conn:
                if await device_queries.device(conn, device_id) is None:
                    raise LookupError(f"no device {device_id} in organization {org_id}")
                await device_queries.set_device_status(conn, device_id, "revoked")
                await record(
                    conn,
                    OPERATOR,
                    "device.revoked",
                    target_type="device",
                    target_id=str(device_id),
                    after={"status": "revoked"},
                )
        return True
    finally:
        await res.close()


async def reconcile_broker(settings: Settings) -> bool:
    res = await Resources.open(settings)
    try:
        return await BrokerCredentialSync(
            settings, await res.app_pools.get(DEFAULT_SHARD)
        ).reconcile()
    finally:
        await res.close()


async def ingest_stats(settings: Settings) -> dict[str, int]:
    res = await Resources.open(settings)
    try:
        raw = await res.redis.hgetall(STATS_KEY)
        return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in sorted(raw.items())}
    finally:
        await res.close()


async def export_org(
    settings: Settings,
    org_id: UUID,
    output: Path,
    days: int,
    progress: Callable[[float], Awaitable[None]],
) -> dict[str, Any]:
    res = await Resources.open(settings)
    try:
        async with res.pool.acquire() as conn:
            org = await org_queries.org(conn, org_id)
            if org is None:
                raise LookupError(f"no organization {org_id}")
            members = await members_of(conn, org_id)
        tenant = Tenant(org_id, org["shard"])
        end = datetime.now(UTC)
        manifest = await build_archive(
            res.router,
            tenant,
            members,
            ExportRange(end - timedelta(days=days), end),
            output,
            progress,
        )
        async with res.router.transaction(tenant) as conn:
            await record(
                conn,
                OPERATOR,
                "export.created_by_operator",
                target_type="export",
                after={"file": output.name, "days": days},
            )
        return manifest
    finally:
        await res.close()
