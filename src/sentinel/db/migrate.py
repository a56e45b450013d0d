"""Versioned SQL migrations for the control schema and for every tenant schema.

Each schema records its own version in `schema_version`. Control migrations run first, then
every tenant schema with bounded parallelism; a new organization gets the latest tenant version
inside the transaction that creates it. All tenants share one version while serving (asyncpg's
statement cache keys on query text), so the order is: migrate, then serve.

A small runner rather than a library: the migration tools of the field (Alembic and others)
migrate one schema per run and would need a run per tenant schema plus SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import asyncpg

from sentinel.config import Settings
from sentinel.db.connect import ROLE_NAMES, connect, pg_target
from sentinel.db.partitions import ensure_partitions
from sentinel.db.tenancy import scope_to_schema, tenant_role, tenant_schema

Kind = Literal["control", "tenant"]
CONTROL_SCHEMA = "control"
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(kind: Kind) -> list[Migration]:
    """The migrations shipped in `sentinel/db/migrations/<kind>/`, in version order."""
    found = []
    for entry in resources.files(f"sentinel.db.migrations.{kind}").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{kind} migrations are not numbered 1..n: {versions}")
    return found


def latest_version(kind: Kind) -> int:
    return len(load_migrations(kind))


async def _apply(conn: asyncpg.Connection, schema: str, kind: Kind) -> int:
    """Apply pending migrations of `kind` to `schema`; the caller holds a transaction."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"sentinel:migrate:{schema}")
    await conn.execute(
        f"CREATE TABLE IF NOT EXISTS {schema}.schema_version ("
        "version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    current = await conn.fetchval(f"SELECT coalesce(max(version), 0) FROM {schema}.schema_version")
    applied = 0
    for migration in load_migrations(kind):
        if migration.version <= current:
            continue
        await conn.execute(migration.sql)
        await conn.execute(
            f"INSERT INTO {schema}.schema_version (version, name) VALUES ($1, $2)",
            migration.version,
            migration.name,
        )
        applied += 1
    return applied


async def migrate_control(conn: asyncpg.Connection) -> int:
    """Bring the control schema up to date (as the owner role); returns migrations applied."""
    app = ROLE_NAMES["app"]
    async with conn.transaction():
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {CONTROL_SCHEMA}")
        applied = await _apply(conn, CONTROL_SCHEMA, "control")
        await conn.execute(
            f"""
            GRANT USAGE ON SCHEMA {CONTROL_SCHEMA} TO {app};
            GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {CONTROL_SCHEMA} TO {app};
            GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {CONTROL_SCHEMA} TO {app};
            REVOKE ALL ON {CONTROL_SCHEMA}.schema_version FROM {app};
            """
        )
    return applied


async def migrate_tenant(conn: asyncpg.Connection, schema: str) -> int:
    """Bring one tenant schema up to date; the caller holds a transaction (as the owner role).

    Afterwards the tenant role may read and write the schema's tables, and nothing else.
    """
    role = tenant_role(schema)
    await scope_to_schema(conn, schema)
    applied = await _apply(conn, schema, "tenant")
    await ensure_partitions(conn, schema)
    await conn.execute(
        f"""
        GRANT USAGE ON SCHEMA {schema} TO {role};
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role};
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role};
        REVOKE ALL ON {schema}.schema_version FROM {role};
        """
    )
    return applied


@dataclass(frozen=True)
class TenantMigrationResult:
    schema: str
    applied: int
    error: str | None = None


async def migrate_all_tenants(
    connect: Callable[[str], Awaitable[asyncpg.Connection]],
    tenants: list[tuple[str, str]],
    parallelism: int,
    on_done: Callable[[TenantMigrationResult], None] | None = None,
) -> list[TenantMigrationResult]:
    """Migrate every `(schema, shard)` with at most `parallelism` at once.

    One tenant failing does not stop the others; failures are reported in the results.
    """
    gate = asyncio.Semaphore(parallelism)

    async def one(schema: str, shard: str) -> TenantMigrationResult:
        async with gate:
            conn = await connect(shard)
            try:
                async with conn.transaction():
                    if await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
                        result = TenantMigrationResult(schema, await migrate_tenant(conn, schema))
                    else:  # the organization was deleted after the list was read
                        result = TenantMigrationResult(schema, 0)
            except asyncpg.PostgresError as exc:
                result = TenantMigrationResult(schema, 0, f"{exc.__class__.__name__}: {exc}")
            finally:
                await conn.close()
        if on_done is not None:
            on_done(result)
        return result

    return list(await asyncio.gather(*(one(schema, shard) for schema, shard in tenants)))


@dataclass(frozen=True)
class MigrationReport:
    control_applied: int
    tenants: list[TenantMigrationResult]

    @property
    def failed(self) -> list[TenantMigrationResult]:
        return [t for t in self.tenants if t.error]


async def migrate_everything(
    settings: Settings,
    on_start: Callable[[int], None] | None = None,
    on_done: Callable[[TenantMigrationResult], None] | None = None,
) -> MigrationReport:
    """Control first, then every tenant schema (bounded parallelism), as the owner role."""
    conn = await connect(pg_target(settings, "owner"))
    try:
        control_applied = await migrate_control(conn)
        rows = await conn.fetch("SELECT id, shard FROM control.organizations ORDER BY id")
    finally:
        await conn.close()
    tenants = [(tenant_schema(row["id"]), row["shard"]) for row in rows]
    if on_start is not None:
        on_start(len(tenants))

    async def owner_connection(shard: str) -> asyncpg.Connection:
        return await connect(pg_target(settings, "owner", shard=shard))

    results = await migrate_all_tenants(
        owner_connection, tenants, settings.tenant_migration_parallelism, on_done
    )
    return MigrationReport(control_applied, results)
