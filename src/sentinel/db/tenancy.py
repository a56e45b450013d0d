"""The one place that scopes database work to a tenant.

Every tenant unit of work is one transaction:
`BEGIN; SET LOCAL ROLE org_x; SET LOCAL search_path = org_x; …; COMMIT`. Nothing is set at
session level, so pooled connections never carry one tenant's scope into another's work, and
PostgreSQL itself refuses any access to another tenant's schema (or to `control`) inside it.
No other module sets roles or search paths.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from sentinel.db.pools import DEFAULT_SHARD, ShardPools

_SCHEMA = re.compile(r"^org_[0-9a-f]{32}$")


def tenant_schema(org_id: UUID) -> str:
    """`org_<32 hex>`: the schema (and role) of an organization."""
    return f"org_{org_id.hex}"


def checked_schema(schema: str) -> str:
    """Schema names go into SQL as identifiers, so only the exact generated shape is allowed."""
    if not _SCHEMA.match(schema):
        raise ValueError(f"not a tenant schema name: {schema!r}")
    return schema


def tenant_role(schema: str) -> str:
    return checked_schema(schema)


async def scope_to_schema(conn: asyncpg.Connection, schema: str) -> None:
    """Point unqualified names at `schema` for the current transaction only (migrations)."""
    await conn.execute(f"SET LOCAL search_path = {checked_schema(schema)}")


@dataclass(frozen=True)
class Tenant:
    org_id: UUID
    shard: str

    @property
    def schema(self) -> str:
        return tenant_schema(self.org_id)


class TenantRouter:
    """Maps an organization to its shard's pool and opens tenant transactions there."""

    def __init__(self, pools: ShardPools) -> None:
        self.pools = pools

    @asynccontextmanager
    async def transaction(self, tenant: Tenant) -> AsyncIterator[asyncpg.Connection]:
        """A transaction that can touch `tenant`'s schema and nothing else."""
        pool = await self.pools.get(tenant.shard)
        async with pool.acquire() as conn, conn.transaction():
            await self._scope(conn, tenant)
            yield conn

    @asynccontextmanager
    async def alongside(
        self, conn: asyncpg.Connection, tenant: Tenant
    ) -> AsyncIterator[asyncpg.Connection]:
        """The tenant side of a control-plane change, committed with it.

        On the control shard this narrows `conn`'s own transaction to the tenant (one atomic
        commit). A tenant on another shard gets its own transaction there, committed just
        before the control transaction: without two-phase commit a crash between the two can
        leave the tenant side applied alone, never the control side alone.
        """
        if tenant.shard == DEFAULT_SHARD:
            await self.enter(conn, tenant)
            yield conn
        else:
            async with self.transaction(tenant) as tenant_conn:
                yield tenant_conn

    async def enter(self, conn: asyncpg.Connection, tenant: Tenant) -> None:
        """Narrow a control-plane transaction to `tenant` for the rest of it.

        Lets a control change and its tenant audit entry commit together. Only possible when
        the tenant lives on the control shard; the rest of the transaction cannot touch
        `control` any more.
        """
        if tenant.shard != DEFAULT_SHARD:
            raise CrossShardError(tenant.shard)
        if not conn.is_in_transaction():
            raise RuntimeError("enter() needs an open transaction")
        await self._scope(conn, tenant)

    @staticmethod
    async def _scope(conn: asyncpg.Connection, tenant: Tenant) -> None:
        schema = checked_schema(tenant.schema)
        await conn.execute(f"SET LOCAL ROLE {schema}; SET LOCAL search_path = {schema}")


class CrossShardError(RuntimeError):
    """A control transaction cannot include a tenant that lives on another shard."""
