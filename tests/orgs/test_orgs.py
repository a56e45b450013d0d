"""Organization lifecycle over HTTPS: create, list, get, rename (audited with before and after),
and deletion — confirmed by name, owners only, and leaving nothing behind."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest

from sentinel.stack.launcher import Stack
from tests.db.access import TenantFootprint, footprint, owner_connection
from tests.orgs.api import assert_problem, audit_entries, invite, org_url
from tests.orgs.conftest import Team
from tests.people import User, create_org, signup, unique_email


@pytest.fixture
def fresh_org(https: httpx.Client) -> tuple[User, dict[str, Any]]:
    owner = signup(https)
    return owner, create_org(https, owner, "  Northside Primary  ")


async def test_creating_an_organization_provisions_its_tenant(
    stack: Stack, fresh_org: tuple[User, dict[str, Any]]
) -> None:
    owner, org = fresh_org
    async with owner_connection(stack.settings) as conn:
        found = await footprint(conn, org["id"])
        role = await conn.fetchval(
            "SELECT role FROM control.memberships WHERE org_id = $1 AND user_id = $2",
            UUID(org["id"]),
            UUID(owner.id),
        )
    assert found == TenantFootprint(
        schema=True, role=True, organization=True, memberships=1, invitations=0
    )
    assert role == "owner"


def test_creation_answers_the_org_and_is_audited(
    https: httpx.Client, fresh_org: tuple[User, dict[str, Any]]
) -> None:
    owner, org = fresh_org
    assert org["name"] == "Northside Primary"
    assert org["role"] == "owner"
    assert set(org) == {"id", "name", "role", "created_at"}
    [created] = audit_entries(https, owner, org["id"], action="org.created")
    assert created["actor_id"] == owner.id
    assert created["target_type"] == "organization"
    assert created["target_id"] == org["id"]
    assert created["after"] == {"name": "Northside Primary"}


def test_create_validates_the_name(https: httpx.Client) -> None:
    owner = signup(https)
    for body in ({"name": ""}, {"name": "   "}, {"name": "x" * 201}, {}, {"name": "A", "x": 1}):
        response = https.post("/api/v1/orgs", json=body, headers=owner.headers)
        assert_problem(response, 422, "validation_failed")
    assert https.get("/api/v1/orgs", headers=owner.headers).json() == []


def test_organizations_need_a_signed_in_user(https: httpx.Client) -> None:
    assert https.post("/api/v1/orgs", json={"name": "Anonymous"}).status_code == 401
    assert https.get("/api/v1/orgs").status_code == 401


def test_list_and_get_show_only_ones_own_organizations(https: httpx.Client, team: Team) -> None:
    second = create_org(https, team.owner, "Second school")
    listed = https.get("/api/v1/orgs", headers=team.owner.headers).json()
    assert {o["id"]: o["role"] for o in listed} == {team.org_id: "owner", second["id"]: "owner"}

    as_admin = https.get("/api/v1/orgs", headers=team.admin.headers).json()
    assert [(o["id"], o["role"]) for o in as_admin] == [(team.org_id, "admin")]

    got = https.get(org_url(team.org_id), headers=team.readonly.headers)
    assert got.status_code == 200, got.text
    assert got.json()["id"] == team.org_id
    assert got.json()["name"] == team.org["name"]
    assert got.json()["role"] == "readonly"

    outsider = signup(https)
    assert https.get("/api/v1/orgs", headers=outsider.headers).json() == []
    assert_problem(https.get(org_url(team.org_id), headers=outsider.headers), 404, "not_found")


def test_rename_is_audited_with_before_and_after(https: httpx.Client, team: Team) -> None:
    old = team.org["name"]
    renamed = https.patch(
        org_url(team.org_id),
        json={"name": "Riverside Academy"},
        headers={**team.admin.headers, "X-Request-ID": "rename-req-0001"},
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Riverside Academy"
    assert renamed.json()["role"] == "admin"
    got = https.get(org_url(team.org_id), headers=team.owner.headers).json()
    assert got["name"] == "Riverside Academy"

    [entry] = audit_entries(https, team.owner, team.org_id, action="org.renamed")
    assert entry["before"] == {"name": old}
    assert entry["after"] == {"name": "Riverside Academy"}
    assert entry["actor_id"] == team.admin.id
    assert entry["actor_label"] == team.admin.email
    assert entry["target_type"] == "organization"
    assert entry["target_id"] == team.org_id
    assert entry["request_id"] == "rename-req-0001"


def test_delete_needs_the_exact_name(https: httpx.Client, team: Team) -> None:
    for confirm in ("", team.org["name"].upper(), team.org["name"] + " "):
        response = https.request(
            "DELETE", org_url(team.org_id), json={"confirm": confirm}, headers=team.owner.headers
        )
        assert_problem(response, 422, "confirmation_mismatch")
    missing = https.request("DELETE", org_url(team.org_id), headers=team.owner.headers)
    assert_problem(missing, 422, "validation_failed")
    assert https.get(org_url(team.org_id), headers=team.owner.headers).status_code == 200


def test_only_owners_delete(https: httpx.Client, team: Team) -> None:
    for member in (team.admin, team.readonly):
        response = https.request(
            "DELETE",
            org_url(team.org_id),
            json={"confirm": team.org["name"]},
            headers=member.headers,
        )
        assert_problem(response, 403, "forbidden")
    assert https.get(org_url(team.org_id), headers=team.owner.headers).status_code == 200


@pytest.fixture
def doomed(https: httpx.Client, team: Team) -> Team:
    """The team's organization with a pending invitation besides the accepted ones."""
    invite(https, team.owner, team.org_id, unique_email("never-joined"), "admin")
    return team


async def test_deleting_removes_everything_and_former_members_get_404(
    stack: Stack, ahttps: httpx.AsyncClient, doomed: Team
) -> None:
    team = doomed
    confirmed = {"confirm": team.org["name"]}
    async with owner_connection(stack.settings) as conn:
        before = await footprint(conn, team.org_id)
        assert before == TenantFootprint(True, True, True, memberships=3, invitations=3)
        deleted = await ahttps.request(
            "DELETE", org_url(team.org_id), json=confirmed, headers=team.owner.headers
        )
        assert deleted.status_code == 204, deleted.text
        after = await footprint(conn, team.org_id)
    assert after.gone, after

    for member in (team.owner, team.admin, team.readonly):
        for path in ("", "members", "invitations", "audit-log"):
            response = await ahttps.get(org_url(team.org_id, path), headers=member.headers)
            assert_problem(response, 404, "not_found")
        listed = (await ahttps.get("/api/v1/orgs", headers=member.headers)).json()
        assert team.org_id not in [o["id"] for o in listed]
    again = await ahttps.request(
        "DELETE", org_url(team.org_id), json=confirmed, headers=team.owner.headers
    )
    assert_problem(again, 404, "not_found")
