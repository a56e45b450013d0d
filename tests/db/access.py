"""Direct database access for tests: the owner connection, tenant routers, and snapshots of an
organization's control rows and audit log (to prove a refused request changed nothing)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from sentinel.alerts.engine import WATERMARK_KEY
from sentinel.config import Settings
from sentinel.db.connect import connect, pg_target
from sentinel.db.pools import ShardPools
from sentinel.db.tenancy import Tenant, TenantRouter, tenant_schema

Rows = tuple[tuple[Any, ...], ...]


@asynccontextmanager
async def owner_connection(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the schema owner, which can read every schema."""
    conn = await connect(pg_target(settings, "owner"))
    try:
        yield conn
    finally:
        await conn.close()


@asynccontextmanager
async def tenant_router(settings: Settings, max_size: int = 10) -> AsyncIterator[TenantRouter]:
    """The application's tenant router over its own `sentinel_app` pools, closed afterwards."""
    pools = ShardPools(settings, "app", max_size=max_size)
    try:
        yield TenantRouter(pools)
    finally:
        await pools.close()


def as_uuid(value: str | UUID) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


async def tenant_of(conn: asyncpg.Connection, org_id: str | UUID) -> Tenant:
    shard = await conn.fetchval(
        "SELECT shard FROM control.organizations WHERE id = $1", as_uuid(org_id)
    )
    assert shard is not None, f"no organization {org_id}"
    return Tenant(as_uuid(org_id), shard)


# Rows that background jobs rewrite on their own schedule, whatever requests do: a snapshot
# leaves them out so that it changes only when a request changed something.
WORKER_ROWS: dict[str, Callable[[asyncpg.Record], bool]] = {
    "settings": lambda row: row["key"] == WATERMARK_KEY,  # the alert engine's progress
}


async def _rows(
    conn: asyncpg.Connection,
    query: str,
    *args: Any,
    skip: Callable[[asyncpg.Record], bool] = lambda _row: False,
) -> Rows:
    rows = [tuple(row.values()) for row in await conn.fetch(query, *args) if not skip(row)]
    return tuple(sorted(rows, key=repr))


Snapshot = dict[str, Rows]


async def snapshot(conn: asyncpg.Connection, org_id: str | UUID) -> Snapshot:
    """Every row that belongs to the organization, by table: its `control.organizations` row,
    the rows of every control table with an `org_id` column, and every table of its schema
    (found in the catalog, so tables added by later migrations are included), less the
    `WORKER_ROWS` that background jobs keep rewriting."""
    org = as_uuid(org_id)
    schema = tenant_schema(org)
    found: Snapshot = {
        "control.organizations": await _rows(
            conn, "SELECT * FROM control.organizations WHERE id = $1", org
        )
    }
    control_tables = await conn.fetch(
        """SELECT c.relname FROM pg_attribute a
           JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'control' AND c.relkind IN ('r', 'p') AND a.attname = 'org_id'
             AND NOT a.attisdropped"""
    )
    for (table,) in control_tables:
        found[f"control.{table}"] = await _rows(
            conn, f"SELECT * FROM control.{table} WHERE org_id = $1", org
        )
    tenant_tables = await conn.fetch(
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition""",
        schema,
    )
    for (table,) in tenant_tables:
        found[f"{schema}.{table}"] = await _rows(
            conn, f"SELECT * FROM {schema}.{table}", skip=WORKER_ROWS.get(table, lambda _r: False)
        )
    assert f"{schema}.audit_log" in found, f"{schema} has no audit_log"
    return found


@dataclass(frozen=True)
class TenantFootprint:
    """What exists of an organization across the catalog and the control schema."""

    schema: bool
    role: bool
    organization: bool
    memberships: int
    invitations: int

    @property
    def gone(self) -> bool:
        return self == TenantFootprint(False, False, False, 0, 0)


async def footprint(conn: asyncpg.Connection, org_id: str | UUID) -> TenantFootprint:
    org = as_uuid(org_id)
    name = tenant_schema(org)
    return TenantFootprint(
        schema=await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", name) == 1,
        role=await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name) == 1,
        organization=await conn.fetchval("SELECT 1 FROM control.organizations WHERE id = $1", org)
        == 1,
        memberships=await conn.fetchval(
            "SELECT count(*) FROM control.memberships WHERE org_id = $1", org
        ),
        invitations=await conn.fetchval(
            "SELECT count(*) FROM control.invitations WHERE org_id = $1", org
        ),
    )


async def tenant_names(conn: asyncpg.Connection) -> tuple[set[str], set[str]]:
    """Every tenant schema and every tenant role that exists right now."""
    pattern = "^org_[0-9a-f]{32}$"
    schemas = {
        r[0]
        for r in await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname ~ $1", pattern)
    }
    roles = {
        r[0] for r in await conn.fetch("SELECT rolname FROM pg_roles WHERE rolname ~ $1", pattern)
    }
    return schemas, roles


async def organization_schemas(conn: asyncpg.Connection) -> set[str]:
    """The schema name of every organization in the control schema."""
    return {tenant_schema(r[0]) for r in await conn.fetch("SELECT id FROM control.organizations")}
