"""Tenant isolation is enforced by PostgreSQL, not by filters.

Inside `TenantRouter.transaction(A)` every statement naming B's tables or the control schema is
refused with *permission denied*, unqualified names resolve to A's tables, nothing of a tenant
scope survives its transaction on a pooled connection, and the application's login role
(NOINHERIT) cannot read any tenant table on its own.
"""

from __future__ import annotations

import ast
import re
import secrets
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest

import sentinel
from sentinel.db.connect import ROLE_NAMES
from sentinel.db.tenancy import Tenant, tenant_schema
from sentinel.stack.launcher import Stack
from tests.db.access import owner_connection, snapshot, tenant_of, tenant_router

APP = ROLE_NAMES["app"]
SCOPE = (
    "SELECT current_user, current_setting('search_path'),"
    " (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    "  WHERE c.oid = to_regclass('audit_log'))"
)


async def tenants(stack: Stack, *org_ids: UUID) -> list[Tenant]:
    async with owner_connection(stack.settings) as conn:
        return [await tenant_of(conn, org_id) for org_id in org_ids]


async def test_other_tenant_and_control_are_denied_inside_a_tenant_transaction(
    stack: Stack, two_orgs: tuple[UUID, UUID]
) -> None:
    tenant_a, tenant_b = await tenants(stack, *two_orgs)
    other = tenant_b.schema
    forbidden = [
        f"SELECT * FROM {other}.audit_log",
        f"INSERT INTO {other}.audit_log (actor_type, action) VALUES ('system', 'intrusion')",
        f"UPDATE {other}.audit_log SET action = 'intrusion'",
        f"DELETE FROM {other}.audit_log",
        f"SELECT * FROM {other}.settings",
        "SELECT * FROM control.users",
        "SELECT * FROM control.memberships",
        "SELECT * FROM control.organizations",
        "UPDATE control.memberships SET role = 'owner'",
        # Nor may a tenant change its own schema's structure.
        "CREATE TABLE own_table (id int)",
        "DROP TABLE audit_log",
    ]
    async with owner_connection(stack.settings) as owner:
        before = await snapshot(owner, tenant_b.org_id)
        async with tenant_router(stack.settings) as router:
            for statement in forbidden:
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    async with router.transaction(tenant_a) as conn:
                        await conn.execute(statement)
        assert await snapshot(owner, tenant_b.org_id) == before


async def test_unqualified_names_resolve_to_the_tenants_own_tables(
    stack: Stack, two_orgs: tuple[UUID, UUID]
) -> None:
    tenant_a, tenant_b = await tenants(stack, *two_orgs)
    marker = f"test.marker.{secrets.token_hex(4)}"
    async with tenant_router(stack.settings) as router, router.transaction(tenant_a) as conn:
        assert tuple(await conn.fetchrow(SCOPE)) == (tenant_a.schema,) * 3
        await conn.execute(
            "INSERT INTO audit_log (actor_type, action) VALUES ('system', $1)", marker
        )
    async with owner_connection(stack.settings) as owner:
        for tenant, expected in ((tenant_a, 1), (tenant_b, 0)):
            found = await owner.fetchval(
                f"SELECT count(*) FROM {tenant.schema}.audit_log WHERE action = $1", marker
            )
            assert found == expected, tenant.schema


async def test_no_scope_leaks_across_pooled_transactions(
    stack: Stack, two_orgs: tuple[UUID, UUID]
) -> None:
    both = await tenants(stack, *two_orgs)
    async with tenant_router(stack.settings, max_size=1) as router:
        pool = await router.pools.get()
        async with pool.acquire() as conn:
            unscoped = tuple(await conn.fetchrow(SCOPE))
        assert unscoped[0] == APP
        assert unscoped[2] is None
        server_pids = set()
        for i in range(40):
            tenant = both[i % 2]
            async with router.transaction(tenant) as conn:
                server_pids.add(conn.get_server_pid())
                assert tuple(await conn.fetchrow(SCOPE)) == (tenant.schema,) * 3
                count = await conn.fetchval("SELECT count(*) FROM audit_log")
                assert count >= 1
            if i % 3 == 0:  # a transaction that fails halfway leaves nothing behind either
                with pytest.raises(asyncpg.DivisionByZeroError):
                    async with router.transaction(tenant) as conn:
                        await conn.execute("SELECT 1 / 0")
            async with pool.acquire() as conn:
                assert tuple(await conn.fetchrow(SCOPE)) == unscoped
        assert len(server_pids) == 1


async def test_tenant_scope_ends_with_its_transaction_on_the_same_connection(
    stack: Stack, two_orgs: tuple[UUID, UUID]
) -> None:
    # The pool resets connections on release, which would hide a session-level SET; this
    # holds one connection across transactions so only SET LOCAL passes.
    tenant_a, tenant_b = await tenants(stack, *two_orgs)
    async with tenant_router(stack.settings, max_size=1) as router:
        pool = await router.pools.get()
        async with pool.acquire() as conn:
            unscoped = tuple(await conn.fetchrow(SCOPE))
            async with conn.transaction():
                await router.enter(conn, tenant_a)
                assert tuple(await conn.fetchrow(SCOPE)) == (tenant_a.schema,) * 3
            assert tuple(await conn.fetchrow(SCOPE)) == unscoped
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with conn.transaction():
                    await router.enter(conn, tenant_b)
                    await conn.execute(f"SELECT * FROM {tenant_a.schema}.audit_log")
            assert tuple(await conn.fetchrow(SCOPE)) == unscoped


async def test_enter_needs_an_open_transaction(stack: Stack, two_orgs: tuple[UUID, UUID]) -> None:
    (tenant_a,) = await tenants(stack, two_orgs[0])
    async with tenant_router(stack.settings) as router:
        pool = await router.pools.get()
        async with pool.acquire() as conn:
            with pytest.raises(RuntimeError):
                await router.enter(conn, tenant_a)
            assert (await conn.fetchrow(SCOPE))[0] == APP


async def test_app_role_alone_cannot_read_tenant_tables(
    stack: Stack, two_orgs: tuple[UUID, UUID]
) -> None:
    async with tenant_router(stack.settings) as router:
        pool = await router.pools.get()
        async with pool.acquire() as conn:
            for org_id in two_orgs:
                schema = tenant_schema(org_id)
                # A member of every tenant role, but NOINHERIT: no privileges without SET ROLE.
                assert await conn.fetchval("SELECT pg_has_role($1, 'MEMBER')", schema)
                assert not await conn.fetchval("SELECT pg_has_role($1, 'USAGE')", schema)
                for table in ("audit_log", "settings"):
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        await conn.fetch(f"SELECT * FROM {schema}.{table}")


_SETS_SCOPE = re.compile(
    r"\bSET\s+(?:LOCAL\s+|SESSION\s+)?(?:ROLE|search_path)\b(?!\s*=\s*\$)"
    r"|\bRESET\s+(?:ROLE|search_path)\b|set_config\(\s*'(?:role|search_path)'",
    re.IGNORECASE,
)


def code_strings(source: str) -> list[str]:
    """Every string literal of a module except docstrings (which may describe SQL)."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_only_the_tenancy_module_sets_roles_or_search_paths() -> None:
    package = Path(sentinel.__file__).parent
    offenders = [
        path.relative_to(package).as_posix()
        for path in sorted(package.rglob("*.py"))
        if any(_SETS_SCOPE.search(text) for text in code_strings(path.read_text()))
    ]
    assert offenders == ["db/tenancy.py"]
