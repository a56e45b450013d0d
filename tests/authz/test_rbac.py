"""Roles are enforced on every route from the one permission table.

Generated from the route table: a readonly member is refused (403) on every mutating route and
nothing changes, and can read every reading route. Owner-only rules hold for admins, and an
organization always keeps an owner.
"""

from __future__ import annotations

import httpx
import pytest

from sentinel.authz.permissions import (
    READ_PERMISSIONS,
    ROLE_PERMISSIONS,
    Permission,
    Role,
    allowed,
)
from sentinel.stack.launcher import Stack
from tests.authz.catalog import OrgWorld, build_org, send
from tests.authz.route_table import GUARDED_MUTATING, GUARDED_READING, Endpoint
from tests.db.access import owner_connection, snapshot
from tests.orgs.api import assert_problem, invite, members, org_url, remove, set_role
from tests.people import add_member, unique_email

OWNER_ONLY = {
    Permission.ORG_DELETE,
    Permission.OWNERS_WRITE,
    Permission.BILLING_WRITE,
    Permission.PRIVACY_WRITE,
}


def test_readonly_has_only_read_permissions() -> None:
    assert all(p.is_read for p in ROLE_PERMISSIONS[Role.READONLY])
    assert ROLE_PERMISSIONS[Role.READONLY] == READ_PERMISSIONS


def test_admin_has_no_owner_only_permission() -> None:
    assert ROLE_PERMISSIONS[Role.ADMIN] & OWNER_ONLY == set()
    assert ROLE_PERMISSIONS[Role.ADMIN] == set(Permission) - OWNER_ONLY


def test_owner_has_every_permission() -> None:
    assert all(allowed(Role.OWNER, p) for p in Permission)


@pytest.mark.parametrize("endpoint", GUARDED_MUTATING, ids=str)
async def test_readonly_cannot_change_anything(
    endpoint: Endpoint, stack: Stack, ahttps: httpx.AsyncClient, org_a: OrgWorld
) -> None:
    async with owner_connection(stack.settings) as conn:
        before = await snapshot(conn, org_a.org_id)
        response = await send(ahttps, endpoint, org_a.readonly, org_a.org_id, org_a)
        assert_problem(response, 403, "forbidden")
        assert await snapshot(conn, org_a.org_id) == before


@pytest.mark.parametrize("endpoint", GUARDED_READING, ids=str)
async def test_readonly_can_read(
    endpoint: Endpoint, ahttps: httpx.AsyncClient, org_a: OrgWorld
) -> None:
    response = await send(ahttps, endpoint, org_a.readonly, org_a.org_id, org_a)
    assert response.status_code == 200, response.text


@pytest.fixture
def team(client: httpx.Client) -> OrgWorld:
    """A fresh organization per test, for tests that change roles."""
    return build_org(client, "team")


async def test_admin_cannot_touch_owners_or_the_organization(
    stack: Stack, ahttps: httpx.AsyncClient, team: OrgWorld
) -> None:
    admin, owner = team.admin.headers, team.owner
    readonly_member = org_url(team.org_id, "members", team.readonly.id)
    owner_member = org_url(team.org_id, "members", owner.id)
    async with owner_connection(stack.settings) as conn:
        before = await snapshot(conn, team.org_id)
        refused = [
            await ahttps.patch(owner_member, json={"role": "admin"}, headers=admin),
            await ahttps.delete(owner_member, headers=admin),
            await ahttps.patch(readonly_member, json={"role": "owner"}, headers=admin),
            await ahttps.post(
                org_url(team.org_id, "invitations"),
                json={"email": unique_email("would-be-owner"), "role": "owner"},
                headers=admin,
            ),
            await ahttps.request(
                "DELETE", org_url(team.org_id), json={"confirm": team.name}, headers=admin
            ),
        ]
        for response in refused:
            assert_problem(response, 403, "forbidden")
        assert await snapshot(conn, team.org_id) == before


def test_admin_cannot_revoke_an_owner_invitation(client: httpx.Client, team: OrgWorld) -> None:
    invitation = invite(client, team.owner, team.org_id, unique_email("owner-to-be"), "owner")
    url = org_url(team.org_id, "invitations", invitation["id"])
    assert_problem(client.delete(url, headers=team.admin.headers), 403, "forbidden")
    pending = client.get(org_url(team.org_id, "invitations"), headers=team.owner.headers).json()
    assert invitation["id"] in [i["id"] for i in pending]


def test_admin_manages_non_owners(client: httpx.Client, team: OrgWorld) -> None:
    # The refusals above are about owners, not about admins managing members at all.
    assert set_role(client, team.admin, team.org_id, team.readonly.id, "admin").status_code == 200
    invite(client, team.admin, team.org_id, unique_email("helper"), "readonly")
    assert remove(client, team.admin, team.org_id, team.readonly.id).status_code == 204
    assert team.readonly.id not in members(client, team.owner, team.org_id)


@pytest.mark.parametrize("action", ["demote", "remove"])
def test_the_last_owner_stays_until_there_is_another(
    action: str, client: httpx.Client, team: OrgWorld
) -> None:
    owner, org_id = team.owner, team.org_id

    def step_down() -> httpx.Response:
        if action == "demote":
            return set_role(client, owner, org_id, owner.id, "admin")
        return remove(client, owner, org_id, owner.id)

    assert_problem(step_down(), 409, "last_owner")
    assert members(client, owner, org_id)[owner.id] == "owner"

    second = add_member(client, owner, org_id, "owner")
    assert step_down().status_code in (200, 204)
    remaining = members(client, second, org_id)
    assert remaining[second.id] == "owner"
    assert remaining.get(owner.id) == ("admin" if action == "demote" else None)

    # Now `second` is the last owner in turn.
    assert_problem(set_role(client, second, org_id, second.id, "readonly"), 409, "last_owner")
    assert_problem(remove(client, second, org_id, second.id), 409, "last_owner")
