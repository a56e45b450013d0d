"""Members and invitations: single-use invitations for one email address that expire and can be
revoked; role changes and removals recorded in the audit log with before and after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from sentinel.stack.launcher import Stack
from tests.db.access import owner_connection
from tests.orgs.api import (
    accept,
    assert_problem,
    audit_entries,
    invite,
    members,
    org_url,
    remove,
    set_role,
)
from tests.orgs.conftest import Team
from tests.people import User, signup, unique_email


def pending_ids(https: httpx.Client, team: Team) -> list[str]:
    response = https.get(org_url(team.org_id, "invitations"), headers=team.owner.headers)
    assert response.status_code == 200, response.text
    return [i["id"] for i in response.json()]


def test_invite_accept_lists_the_member_with_the_role(https: httpx.Client, team: Team) -> None:
    newcomer = signup(https)
    invitation = invite(https, team.admin, team.org_id, newcomer.email.upper(), "admin")
    assert invitation["email"] == newcomer.email
    assert invitation["token"] in invitation["accept_url"]
    listed = https.get(org_url(team.org_id, "invitations"), headers=team.readonly.headers).json()
    assert [i["id"] for i in listed if i["email"] == newcomer.email] == [invitation["id"]]
    assert all("token" not in i for i in listed)

    accepted = accept(https, newcomer, invitation["token"])
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"org_id": team.org_id, "name": team.org["name"], "role": "admin"}
    assert members(https, team.owner, team.org_id)[newcomer.id] == "admin"
    assert invitation["id"] not in pending_ids(https, team)
    orgs = https.get("/api/v1/orgs", headers=newcomer.headers).json()
    assert [(o["id"], o["role"]) for o in orgs] == [(team.org_id, "admin")]

    [joined] = audit_entries(
        https, team.owner, team.org_id, action="member.joined", target_id=newcomer.id
    )
    assert joined["actor_id"] == newcomer.id
    assert joined["after"] == {"role": "admin", "email": newcomer.email}
    [created] = audit_entries(https, team.owner, team.org_id, target_id=invitation["id"])
    assert created["action"] == "invitation.created"
    assert created["actor_id"] == team.admin.id


def test_only_the_invited_address_can_accept(https: httpx.Client, team: Team) -> None:
    invited_email = unique_email("invited")
    invitation = invite(https, team.owner, team.org_id, invited_email)
    someone_else = signup(https)
    assert_problem(
        accept(https, someone_else, invitation["token"]), 403, "invitation_email_mismatch"
    )
    assert someone_else.id not in members(https, team.owner, team.org_id)
    assert invitation["id"] in pending_ids(https, team)  # still usable by the right person
    invited = signup(https, invited_email)
    assert accept(https, invited, invitation["token"]).status_code == 200


def test_an_invitation_works_once(https: httpx.Client, team: Team) -> None:
    newcomer = signup(https)
    invitation = invite(https, team.owner, team.org_id, newcomer.email)
    assert accept(https, newcomer, invitation["token"]).status_code == 200
    assert_problem(accept(https, newcomer, invitation["token"]), 404, "invitation_invalid")


def test_unknown_tokens_are_invalid(https: httpx.Client, team: Team) -> None:
    newcomer = signup(https)
    assert_problem(accept(https, newcomer, "inv_" + "x" * 43), 404, "invitation_invalid")
    unauthenticated = https.post("/api/v1/invitations/accept", json={"token": "inv_" + "x" * 43})
    assert unauthenticated.status_code == 401


def test_a_revoked_invitation_is_invalid(https: httpx.Client, team: Team) -> None:
    newcomer = signup(https)
    invitation = invite(https, team.owner, team.org_id, newcomer.email)
    url = org_url(team.org_id, "invitations", invitation["id"])
    assert https.delete(url, headers=team.admin.headers).status_code == 204
    assert_problem(https.delete(url, headers=team.admin.headers), 404, "not_found")
    assert invitation["id"] not in pending_ids(https, team)
    assert_problem(accept(https, newcomer, invitation["token"]), 404, "invitation_invalid")
    [revoked] = audit_entries(https, team.owner, team.org_id, action="invitation.revoked")
    assert revoked["target_id"] == invitation["id"]
    assert revoked["before"] == {"email": newcomer.email}


@pytest.fixture
def expired(https: httpx.Client, team: Team) -> tuple[User, dict[str, Any]]:
    newcomer = signup(https)
    return newcomer, invite(https, team.owner, team.org_id, newcomer.email)


async def test_an_expired_invitation_is_invalid(
    stack: Stack, ahttps: httpx.AsyncClient, team: Team, expired: tuple[User, dict[str, Any]]
) -> None:
    newcomer, invitation = expired
    async with owner_connection(stack.settings) as conn:
        await conn.execute(
            "UPDATE control.invitations SET expires_at = $2 WHERE id = $1",
            UUID(invitation["id"]),
            datetime.now(UTC) - timedelta(seconds=1),
        )
    response = await ahttps.post(
        "/api/v1/invitations/accept",
        json={"token": invitation["token"]},
        headers=newcomer.headers,
    )
    assert_problem(response, 404, "invitation_invalid")
    pending = await ahttps.get(org_url(team.org_id, "invitations"), headers=team.owner.headers)
    assert invitation["id"] not in [i["id"] for i in pending.json()]


def test_a_member_cannot_join_again(https: httpx.Client, team: Team) -> None:
    invitation = invite(https, team.owner, team.org_id, team.readonly.email, "admin")
    assert_problem(accept(https, team.readonly, invitation["token"]), 409, "already_member")
    assert members(https, team.owner, team.org_id)[team.readonly.id] == "readonly"


def test_role_changes_are_audited_with_before_and_after(https: httpx.Client, team: Team) -> None:
    changed = set_role(https, team.owner, team.org_id, team.readonly.id, "admin")
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"user_id": team.readonly.id, "role": "admin"}
    assert members(https, team.owner, team.org_id)[team.readonly.id] == "admin"
    # Setting the same role again changes nothing and records nothing.
    assert set_role(https, team.owner, team.org_id, team.readonly.id, "admin").status_code == 200

    [entry] = audit_entries(https, team.owner, team.org_id, action="member.role_changed")
    assert entry["actor_id"] == team.owner.id
    assert entry["target_type"] == "user"
    assert entry["target_id"] == team.readonly.id
    assert entry["before"] == {"role": "readonly", "email": team.readonly.email}
    assert entry["after"] == {"role": "admin", "email": team.readonly.email}


def test_removal_is_audited_and_ends_access(https: httpx.Client, team: Team) -> None:
    assert remove(https, team.admin, team.org_id, team.readonly.id).status_code == 204
    assert team.readonly.id not in members(https, team.owner, team.org_id)
    assert_problem(https.get(org_url(team.org_id), headers=team.readonly.headers), 404, "not_found")
    assert_problem(remove(https, team.admin, team.org_id, team.readonly.id), 404, "not_found")

    [entry] = audit_entries(https, team.owner, team.org_id, action="member.removed")
    assert entry["actor_id"] == team.admin.id
    assert entry["target_id"] == team.readonly.id
    assert entry["before"] == {"role": "readonly", "email": team.readonly.email}
    assert entry["after"] is None


def test_changing_someone_who_is_not_a_member_is_not_found(https: httpx.Client, team: Team) -> None:
    outsider = signup(https)
    for user_id in (outsider.id, "00000000-0000-0000-0000-000000000000"):
        assert_problem(set_role(https, team.owner, team.org_id, user_id, "admin"), 404, "not_found")
        assert_problem(remove(https, team.owner, team.org_id, user_id), 404, "not_found")
    assert_problem(
        set_role(https, team.owner, team.org_id, team.admin.id, "superuser"),
        422,
        "validation_failed",
    )
