"""Erasing an organization and proving it: counts what is about to go, deletes, sweeps the
files and cache keys that belong to it, then scans every place its data could remain — its
schema and role, every control table with an `org_id`, the broker's credentials, Redis, the
data directory — and records a deletion receipt that outlives the organization."""

from __future__ import annotations

import shutil
import uuid
from typing import Any
from uuid import UUID

import asyncpg

from sentinel.api.resources import Resources
from sentinel.broker.sync import BrokerCredentialSync
from sentinel.db.pools import DEFAULT_SHARD
from sentinel.db.tenancy import Tenant, tenant_schema
from sentinel.privacy import queries


def org_files(res: Resources, org_id: UUID) -> list[Any]:
    root = res.settings.root
    return [root / "exports" / str(org_id), root / "simulator" / f"{org_id}.json"]


async def inventory_before(res: Resources, tenant: Tenant) -> dict[str, int]:
    async with res.router.transaction(tenant) as conn:
        counts = await queries.tenant_counts(conn)
    async with res.pool.acquire() as conn:
        counts["members"] = await queries.member_count(conn, tenant.org_id)
    return counts


async def sweep(res: Resources, org_id: UUID) -> None:
    for path in org_files(res, org_id):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    async for key in res.redis.scan_iter(match=f"*{org_id}*", count=500):
        await res.redis.delete(key)
    # Push the credential change to the broker now rather than waiting for the worker.
    await BrokerCredentialSync(res.settings, await res.app_pools.get(DEFAULT_SHARD)).reconcile()


async def verify(res: Resources, org_id: UUID, owner_conn: asyncpg.Connection) -> dict[str, Any]:
    """Everything that would show the organization still exists; all must be empty/false."""
    schema = tenant_schema(org_id)
    found: dict[str, Any] = {
        "schema": await queries.schema_exists(owner_conn, schema),
        "role": await queries.role_exists(owner_conn, schema),
        "control_rows": await queries.control_rows(owner_conn, org_id),
        "redis_keys": [k async for k in res.redis.scan_iter(match=f"*{org_id}*", count=500)],
        "files": [str(p) for p in org_files(res, org_id) if p.exists()],
    }
    password_file = BrokerCredentialSync(res.settings, res.pool).password_file
    try:
        found["broker_credentials"] = sum(
            1 for line in password_file.read_text().splitlines() if line.startswith(f"{org_id}/")
        )
    except OSError:
        found["broker_credentials"] = "unreadable from the API host"
    return found


def clean(found: dict[str, Any]) -> bool:
    return (
        not found["schema"]
        and not found["role"]
        and not found["control_rows"]
        and not found["redis_keys"]
        and not found["files"]
        and found["broker_credentials"] in (0, "unreadable from the API host")
    )


async def record_receipt(
    res: Resources,
    org_id: UUID,
    org_name: str,
    deleted_by: UUID,
    removed: dict[str, int],
    found: dict[str, Any],
) -> UUID:
    receipt_id = uuid.uuid4()
    async with res.pool.acquire() as conn:
        await queries.insert_receipt(
            conn, receipt_id, org_id, org_name, deleted_by, removed, found, clean(found)
        )
    return receipt_id
