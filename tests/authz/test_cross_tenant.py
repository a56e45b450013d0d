"""No organization can reach another's data, for every guarded route and method.

Generated from the route table: A's owner calling with B's organization id, or with A's id and
B's object ids, gets the same 404 as for an organization that does not exist, and nothing of B
(or A) changes. Audit-log filters with B's ids find nothing in A.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from sentinel.stack.launcher import Stack
from tests.authz.catalog import OrgWorld, send
from tests.authz.route_table import GUARDED, WITH_OBJECT_PARAMS, Endpoint
from tests.db.access import owner_connection, snapshot
from tests.orgs.api import assert_problem, org_url


@pytest.mark.parametrize("endpoint", GUARDED, ids=str)
async def test_other_organization_answers_like_a_missing_one(
    endpoint: Endpoint, stack: Stack, ahttps: httpx.AsyncClient, org_a: OrgWorld, org_b: OrgWorld
) -> None:
    stranger = org_a.owner
    org_ids = {
        "other tenant": org_b.org_id,
        "other tenant, upper case": org_b.org_id.upper(),
        "unknown": str(uuid.uuid4()),
        "malformed": "not-an-organization",
    }
    async with owner_connection(stack.settings) as conn:
        before = await snapshot(conn, org_b.org_id)
        bodies: dict[str, Any] = {}
        for label, org_id in org_ids.items():
            response = await send(ahttps, endpoint, stranger, org_id, org_b)
            bodies[label] = assert_problem(response, 404, "not_found")
        assert await snapshot(conn, org_b.org_id) == before
    assert all(body == bodies["unknown"] for body in bodies.values()), bodies


@pytest.mark.parametrize("endpoint", WITH_OBJECT_PARAMS, ids=str)
async def test_other_organizations_objects_are_not_found_in_ones_own(
    endpoint: Endpoint, stack: Stack, ahttps: httpx.AsyncClient, org_a: OrgWorld, org_b: OrgWorld
) -> None:
    async with owner_connection(stack.settings) as conn:
        before = {org.org_id: await snapshot(conn, org.org_id) for org in (org_a, org_b)}
        response = await send(ahttps, endpoint, org_a.owner, org_a.org_id, org_b)
        assert_problem(response, 404, "not_found")
        after = {org.org_id: await snapshot(conn, org.org_id) for org in (org_a, org_b)}
    assert after == before


async def test_audit_filters_with_other_organizations_ids_find_nothing(
    ahttps: httpx.AsyncClient, org_a: OrgWorld, org_b: OrgWorld
) -> None:
    filters = [
        {"actor_id": org_b.owner.id},
        {"target_id": org_b.admin.id},
        {"target_id": org_b.org_id},
        {"target_type": "invitation", "target_id": org_b.samples["invitation_id"]},
    ]
    for params in filters:
        url = org_url(org_b.org_id, "audit-log")
        seen_in_b = await ahttps.get(url, params=params, headers=org_b.owner.headers)
        assert seen_in_b.status_code == 200, seen_in_b.text
        assert seen_in_b.json()["items"], f"B should have entries for {params}"
        url = org_url(org_a.org_id, "audit-log")
        seen_in_a = await ahttps.get(url, params=params, headers=org_a.owner.headers)
        assert seen_in_a.status_code == 200, seen_in_a.text
        assert seen_in_a.json()["items"] == [], params

    everything = await ahttps.get(
        org_url(org_a.org_id, "audit-log"), params={"limit": 500}, headers=org_a.owner.headers
    )
    assert everything.status_code == 200, everything.text
    text = everything.text
    assert everything.json()["items"]
    for b_id in [org_b.org_id, org_b.owner.id, org_b.admin.id, *org_b.samples.values()]:
        assert b_id not in text
