"""Scratch probe (not part of the suite): can a tenant transaction switch to another tenant's role?"""
from uuid import UUID

import asyncpg

from tests.db.access import owner_connection, tenant_of, tenant_router


async def test_probe(stack, two_orgs: tuple[UUID, UUID]) -> None:
    async with owner_connection(stack.settings) as conn:
        a = await tenant_of(conn, two_orgs[0])
        b = await tenant_of(conn, two_orgs[1])
    async with tenant_router(stack.settings) as router, router.transaction(a) as tx:
        await tx.execute(f"SET LOCAL ROLE {b.schema}")
        rows = await tx.fetch(f"SELECT action FROM {b.schema}.audit_log")
        print("ESCAPED, read", len(rows), "rows of B from A's transaction")
