"""Creating and dropping a tenant: its schema, its NOLOGIN role and its grants.

Runs on an owner-role connection inside the caller's transaction, so an organization's row,
schema, role and membership appear together or not at all (PostgreSQL DDL is transactional).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

import asyncpg

from sentinel.db.connect import ROLE_NAMES
from sentinel.db.migrate import migrate_tenant
from sentinel.db.tenancy import tenant_role, tenant_schema

# Called with each stage's name ("schema_created", "tenant_migrated", then "owner_added" from
# the service) inside the creating transaction; tests raise there to prove nothing remains.
Checkpoint = Callable[[str], Awaitable[None]]


async def create_tenant(
    conn: asyncpg.Connection, org_id: UUID, checkpoint: Checkpoint | None = None
) -> str:
    schema = tenant_schema(org_id)
    role = tenant_role(schema)
    owner, app = ROLE_NAMES["owner"], ROLE_NAMES["app"]
    await conn.execute(f"CREATE ROLE {role} NOLOGIN NOINHERIT")
    await conn.execute(f"CREATE SCHEMA {schema} AUTHORIZATION {owner}")
    if checkpoint is not None:
        await checkpoint("schema_created")
    await migrate_tenant(conn, schema)
    await conn.execute(f"GRANT {role} TO {app}")
    if checkpoint is not None:
        await checkpoint("tenant_migrated")
    return schema


async def drop_tenant(conn: asyncpg.Connection, org_id: UUID) -> None:
    """Drop the schema, then the role with any privileges it still holds elsewhere.

    `DROP OWNED BY` needs the privileges of the role, which the owner (CREATEROLE, not a member)
    lacks; it grants itself membership first, inside the same transaction.
    """
    schema = tenant_schema(org_id)
    role = tenant_role(schema)
    owner = ROLE_NAMES["owner"]
    await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
        await conn.execute(f"GRANT {role} TO {owner}")
        await conn.execute(f"DROP OWNED BY {role}")
        await conn.execute(f"DROP ROLE {role}")
