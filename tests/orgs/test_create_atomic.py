"""Creating an organization is atomic: its row, schema, role, owner membership and first audit
entry appear together or not at all, whichever stage fails (injected through the service's
`checkpoint` hook, in process, against the real database)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

import httpx
import pytest

from sentinel.api.resources import Resources
from sentinel.audit.service import Actor
from sentinel.auth.verifier import Principal
from sentinel.db.tenancy import tenant_schema
from sentinel.orgs.service import create_org
from sentinel.stack.launcher import Stack
from tests.db.access import TenantFootprint, footprint, owner_connection, tenant_names
from tests.people import User, signup

STAGES = ["schema_created", "tenant_migrated", "owner_added"]


class InjectedFailure(Exception):
    pass


class Checkpoints:
    """Records the stages reached and fails at one of them."""

    def __init__(self, fail_at: str | None = None) -> None:
        self.fail_at = fail_at
        self.reached: list[str] = []

    async def __call__(self, stage: str) -> None:
        self.reached.append(stage)
        if stage == self.fail_at:
            raise InjectedFailure(stage)


@pytest.fixture
async def resources(stack: Stack) -> AsyncIterator[Resources]:
    res = await Resources.open(stack.settings)
    try:
        yield res
    finally:
        await res.close()


@pytest.fixture
def creator(https: httpx.Client) -> User:
    return signup(https)


def as_principal(user: User) -> tuple[Principal, Actor]:
    return Principal(UUID(user.id), None, user.email), Actor("user", user.id, user.email)


async def traces_of(stack: Stack, user: User) -> tuple[set[str], set[str], int, int]:
    """Tenant schemas, tenant roles, and the user's organizations and memberships."""
    async with owner_connection(stack.settings) as conn:
        schemas, roles = await tenant_names(conn)
        orgs = await conn.fetchval(
            "SELECT count(*) FROM control.organizations WHERE created_by = $1", UUID(user.id)
        )
        memberships = await conn.fetchval(
            "SELECT count(*) FROM control.memberships WHERE user_id = $1", UUID(user.id)
        )
    return schemas, roles, orgs, memberships


@pytest.mark.parametrize("stage", STAGES)
async def test_a_failure_at_any_stage_leaves_nothing_behind(
    stage: str, stack: Stack, resources: Resources, creator: User
) -> None:
    before = await traces_of(stack, creator)
    assert before[2:] == (0, 0)
    checkpoints = Checkpoints(fail_at=stage)
    principal, actor = as_principal(creator)
    with pytest.raises(InjectedFailure):
        await create_org(resources, principal, actor, "Never Was", checkpoints)
    assert checkpoints.reached == STAGES[: STAGES.index(stage) + 1]
    assert await traces_of(stack, creator) == before


async def test_without_a_failure_every_part_exists(
    stack: Stack, resources: Resources, creator: User
) -> None:
    # The control case for the test above: the same call, all stages passed.
    schemas, roles, _, _ = await traces_of(stack, creator)
    checkpoints = Checkpoints()
    principal, actor = as_principal(creator)
    org = await create_org(resources, principal, actor, "Built Whole", checkpoints)
    assert checkpoints.reached == STAGES
    schema = tenant_schema(org["id"])
    assert await traces_of(stack, creator) == (schemas | {schema}, roles | {schema}, 1, 1)
    async with owner_connection(stack.settings) as conn:
        assert await footprint(conn, org["id"]) == TenantFootprint(True, True, True, 1, 0)
        entries = await conn.fetch(f"SELECT action, actor_id FROM {schema}.audit_log")
    assert [tuple(e) for e in entries] == [("org.created", creator.id)]
