"""Versioned migrations: shipped in order, recorded per schema, idempotent through
`sentinel migrate`, applied to a tenant that is behind, and out of the tenant role's reach."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from importlib import resources

import asyncpg
import pytest

from sentinel.db.connect import ROLE_NAMES, connect, pg_target
from sentinel.db.migrate import Kind, latest_version, load_migrations, migrate_all_tenants
from sentinel.db.tenancy import Tenant, tenant_schema
from sentinel.orgs.provisioning import drop_tenant
from sentinel.stack.launcher import Stack
from sentinel.stack.sentinel_processes import settings_env
from tests.db.access import (
    organization_schemas,
    owner_connection,
    tenant_names,
    tenant_of,
    tenant_router,
)

_SUMMARY = re.compile(
    r"control: (\d+) migration\(s\) applied; tenants: (\d+) checked, (\d+) migration\(s\) applied"
)


@pytest.mark.parametrize("kind", ["control", "tenant"])
def test_migrations_load_in_version_order(kind: Kind) -> None:
    migrations = load_migrations(kind)
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert latest_version(kind) == len(migrations)
    shipped = sorted(
        entry.name
        for entry in resources.files(f"sentinel.db.migrations.{kind}").iterdir()
        if entry.name.endswith(".sql")
    )
    assert [f"{m.version:04d}_{m.name}.sql" for m in migrations] == shipped
    assert all(m.sql.strip() for m in migrations)


async def test_every_schema_is_at_the_latest_version(
    stack: Stack, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    async with owner_connection(stack.settings) as conn:
        orgs = await organization_schemas(conn)
        versions = {
            schema: await conn.fetchval(f"SELECT max(version) FROM {schema}.schema_version")
            for schema in orgs
        }
        control = await conn.fetchval("SELECT max(version) FROM control.schema_version")
    assert {tenant_schema(org_id) for org_id in two_orgs} <= orgs
    assert set(versions.values()) == {latest_version("tenant")}
    assert control == latest_version("control")


async def test_no_tenant_schema_or_role_outlives_its_organization(
    stack: Stack, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    async with owner_connection(stack.settings) as conn:
        schemas, roles = await tenant_names(conn)
        orgs = await organization_schemas(conn)
    assert {tenant_schema(org_id) for org_id in two_orgs} <= orgs
    assert schemas == orgs
    assert roles == orgs


def sentinel_migrate(stack: Stack) -> tuple[int, int, int]:
    """Run `sentinel migrate` as an operator would; (control applied, tenants, tenant applied)."""
    env = {**settings_env(stack.settings), "COLUMNS": "200", "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "sentinel", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr  # progress and summary go to stderr
    found = _SUMMARY.search(output)
    assert found, output
    return int(found[1]), int(found[2]), int(found[3])


async def test_migrate_brings_a_tenant_that_is_behind_up_to_date_and_is_idempotent(
    stack: Stack,
) -> None:
    # An organization whose schema and role exist but no migration has run yet.
    org_id = uuid.uuid4()
    schema = tenant_schema(org_id)
    async with owner_connection(stack.settings) as conn:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO control.organizations (id, name) VALUES ($1, 'Behind school')",
                org_id,
            )
            await conn.execute(f"CREATE ROLE {schema} NOLOGIN NOINHERIT")
            await conn.execute(f"CREATE SCHEMA {schema} AUTHORIZATION {ROLE_NAMES['owner']}")
            await conn.execute(f"GRANT {schema} TO {ROLE_NAMES['app']}")
        try:
            control, tenants, applied = sentinel_migrate(stack)
            assert control == 0
            assert applied == latest_version("tenant")
            assert tenants >= 1
            versions = await conn.fetch(f"SELECT version FROM {schema}.schema_version")
            assert sorted(v[0] for v in versions) == list(range(1, latest_version("tenant") + 1))
            # The tenant role got its grants: the app can use the new schema.
            async with (
                tenant_router(stack.settings) as router,
                router.transaction(Tenant(org_id, "main")) as tx,
            ):
                assert await tx.fetchval("SELECT count(*) FROM audit_log") == 0

            assert sentinel_migrate(stack) == (0, tenants, 0)
        finally:
            async with conn.transaction():
                await conn.execute("DELETE FROM control.organizations WHERE id = $1", org_id)
                await drop_tenant(conn, org_id)
        schemas, roles = await tenant_names(conn)
        assert schema not in schemas and schema not in roles


async def test_one_failing_tenant_does_not_stop_the_others(
    stack: Stack, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    existing = tenant_schema(two_orgs[0])
    broken = tenant_schema(uuid.uuid4())  # a schema without its role: granting fails
    gone = tenant_schema(uuid.uuid4())  # an organization deleted after the list was read

    async def owner(_shard: str) -> asyncpg.Connection:
        return await connect(pg_target(stack.settings, "owner"))

    async with owner_connection(stack.settings) as conn:
        await conn.execute(f"CREATE SCHEMA {broken}")
    try:
        results = await migrate_all_tenants(
            owner, [(broken, "main"), (gone, "main"), (existing, "main")], 1
        )
    finally:
        async with owner_connection(stack.settings) as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {broken} CASCADE")
    by_schema = {r.schema: r for r in results}
    assert by_schema[broken].error
    assert by_schema[gone].error is None and by_schema[gone].applied == 0
    assert by_schema[existing].error is None
    assert by_schema[existing].applied == 0


async def test_tenant_role_cannot_touch_schema_version(
    stack: Stack, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    org_id = two_orgs[0]
    async with owner_connection(stack.settings) as conn:
        tenant = await tenant_of(conn, org_id)
        before = await conn.fetch(f"SELECT * FROM {tenant_schema(org_id)}.schema_version")
    statements = [
        "INSERT INTO schema_version (version, name) VALUES (999, 'forged')",
        "UPDATE schema_version SET version = version + 100",
        "DELETE FROM schema_version",
        "SELECT * FROM schema_version",
    ]
    async with tenant_router(stack.settings) as router:
        for statement in statements:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with router.transaction(tenant) as tx:
                    await tx.execute(statement)
    async with owner_connection(stack.settings) as conn:
        after = await conn.fetch(f"SELECT * FROM {tenant_schema(org_id)}.schema_version")
    assert after == before
