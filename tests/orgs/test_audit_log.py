"""The audit log over HTTPS: who (id and label), from where (source address), under which
request id; filters by action (exact or dotted prefix), actor, target and time; keyset
pagination that returns every entry exactly once; readable by every member."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.orgs.api import (
    assert_problem,
    audit_entries,
    audit_page,
    invite,
    org_url,
    remove,
    set_role,
)
from tests.orgs.conftest import Team
from tests.people import unique_email


@pytest.fixture
def busy(https: httpx.Client, team: Team) -> Team:
    """The team's organization after a few more audited changes."""
    invite(https, team.owner, team.org_id, unique_email("later"), "readonly")
    assert set_role(https, team.owner, team.org_id, team.readonly.id, "admin").status_code == 200
    assert remove(https, team.owner, team.org_id, team.readonly.id).status_code == 204
    renamed = https.patch(
        org_url(team.org_id), json={"name": "Renamed"}, headers=team.admin.headers
    )
    assert renamed.status_code == 200, renamed.text
    return team


def actions(entries: list[dict[str, Any]]) -> list[str]:
    return [e["action"] for e in entries]


def test_entries_say_who_from_where_and_which_request(https: httpx.Client, team: Team) -> None:
    response = https.patch(
        org_url(team.org_id),
        json={"name": "Who Did This"},
        headers={
            **team.admin.headers,
            "X-Request-ID": "audit-test-req-42",
            "X-Forwarded-For": "203.0.113.7",  # a client cannot choose its recorded address
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "audit-test-req-42"
    [entry] = audit_entries(https, team.readonly, team.org_id, action="org.renamed")
    assert entry["actor_type"] == "user"
    assert entry["actor_id"] == team.admin.id
    assert entry["actor_label"] == team.admin.email
    assert entry["request_id"] == "audit-test-req-42"
    assert entry["source_ip"] == "127.0.0.1"
    assert datetime.fromisoformat(entry["at"]).tzinfo is not None


def test_request_id_is_generated_when_absent(https: httpx.Client, team: Team) -> None:
    response = https.patch(org_url(team.org_id), json={"name": "Anon"}, headers=team.owner.headers)
    assert response.status_code == 200, response.text
    [entry] = audit_entries(https, team.owner, team.org_id, action="org.renamed")
    assert entry["request_id"] == response.headers["x-request-id"]
    assert len(entry["request_id"]) >= 8


def test_action_filter_exact_and_prefix(https: httpx.Client, busy: Team) -> None:
    everything = audit_entries(https, busy.owner, busy.org_id)
    assert {"org.created", "org.renamed", "member.joined", "member.removed"} <= set(
        actions(everything)
    )

    exact = audit_entries(https, busy.owner, busy.org_id, action="member.role_changed")
    assert actions(exact) == ["member.role_changed"]

    prefix = audit_entries(https, busy.owner, busy.org_id, action="member")
    assert prefix == [e for e in everything if e["action"].startswith("member.")]
    assert set(actions(prefix)) == {"member.joined", "member.role_changed", "member.removed"}

    # A prefix is a whole dotted segment, and LIKE wildcards are just characters.
    for not_a_prefix in ("mem", "membe", "%", "_rg", "member%", "org_"):
        assert audit_entries(https, busy.owner, busy.org_id, action=not_a_prefix) == []


def test_actor_and_target_filters(https: httpx.Client, busy: Team) -> None:
    everything = audit_entries(https, busy.owner, busy.org_id)
    by_admin = audit_entries(https, busy.owner, busy.org_id, actor_id=busy.admin.id)
    assert by_admin == [e for e in everything if e["actor_id"] == busy.admin.id]
    assert "org.renamed" in actions(by_admin)

    invitations = audit_entries(https, busy.owner, busy.org_id, target_type="invitation")
    assert invitations == [e for e in everything if e["target_type"] == "invitation"]
    assert len(invitations) == 3  # admin, readonly, and the one still pending

    about_readonly = audit_entries(https, busy.owner, busy.org_id, target_id=busy.readonly.id)
    assert actions(about_readonly) == ["member.removed", "member.role_changed", "member.joined"]
    both = audit_entries(
        https, busy.owner, busy.org_id, target_type="user", target_id=busy.readonly.id
    )
    assert both == about_readonly
    assert (
        audit_entries(
            https, busy.owner, busy.org_id, target_type="organization", target_id=busy.readonly.id
        )
        == []
    )


def test_time_window_filters(https: httpx.Client, busy: Team) -> None:
    everything = audit_entries(https, busy.owner, busy.org_id)
    moments = sorted({datetime.fromisoformat(e["at"]) for e in everything})
    assert len(moments) >= 4
    middle = moments[len(moments) // 2]
    since = audit_entries(https, busy.owner, busy.org_id, since=middle.isoformat())
    until = audit_entries(https, busy.owner, busy.org_id, until=middle.isoformat())
    assert since == [e for e in everything if datetime.fromisoformat(e["at"]) >= middle]
    assert until == [e for e in everything if datetime.fromisoformat(e["at"]) < middle]
    assert since and until
    # Without an offset, a time is UTC.
    naive = middle.astimezone(UTC).replace(tzinfo=None).isoformat()
    assert audit_entries(https, busy.owner, busy.org_id, since=naive) == since
    window = audit_entries(
        https,
        busy.owner,
        busy.org_id,
        since=moments[1].isoformat(),
        until=moments[-1].isoformat(),
    )
    assert window == [
        e for e in everything if moments[1] <= datetime.fromisoformat(e["at"]) < moments[-1]
    ]


def test_cursor_pages_return_every_entry_exactly_once(https: httpx.Client, busy: Team) -> None:
    everything = audit_page(https, busy.owner, busy.org_id, limit=500)
    assert everything["next_cursor"] is None
    all_ids = [e["id"] for e in everything["items"]]
    assert all_ids == sorted(all_ids, reverse=True)
    assert len(all_ids) >= 7

    seen: list[int] = []
    cursor: int | None = None
    pages = 0
    while True:
        params: dict[str, int] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = audit_page(https, busy.owner, busy.org_id, **params)
        assert 1 <= len(page["items"]) <= 2
        seen.extend(e["id"] for e in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert cursor == page["items"][-1]["id"]
    assert seen == all_ids
    assert pages == (len(all_ids) + 1) // 2

    # Filters and cursors combine.
    members_only = audit_entries(https, busy.owner, busy.org_id, action="member", limit=1)
    assert members_only == audit_entries(https, busy.owner, busy.org_id, action="member")


def test_every_member_can_read_it(https: httpx.Client, team: Team) -> None:
    for member in (team.owner, team.admin, team.readonly):
        assert audit_entries(https, member, team.org_id, action="org.created")


def test_bad_parameters_are_refused_not_crashing(https: httpx.Client, team: Team) -> None:
    url = org_url(team.org_id, "audit-log")
    for params in (
        {"limit": 0},
        {"limit": 501},
        {"cursor": 0},
        {"cursor": 2**63},
        {"since": "yesterday"},
        {"action": "x" * 101},
    ):
        response = https.get(url, params=params, headers=team.owner.headers)
        assert_problem(response, 422, "validation_failed")
