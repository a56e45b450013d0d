"""Cookie authentication: the access token in `sentinel_at` works for reads; writes also need
the double-submit CSRF token (`sentinel_csrf` cookie equal to the `X-CSRF-Token` header),
otherwise 403 `csrf_failed` and nothing happens.
"""

from __future__ import annotations

import secrets

import httpx
import pytest

from tests.auth.helpers import (
    asignup,
    assert_problem,
    assert_token_works,
    refresh,
)
from tests.people import User


def cookie_header(**cookies: str) -> dict[str, str]:
    # An explicit header: httpx deprecates per-request `cookies=`, and warnings are errors here.
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}


async def org_names(client: httpx.AsyncClient, user: User) -> set[str]:
    response = await client.get("/api/v1/orgs", headers=user.headers)
    assert response.status_code == 200, response.text
    return {org["name"] for org in response.json()}


async def test_cookie_token_works_for_reads(ahttps: httpx.AsyncClient) -> None:
    user = await asignup(ahttps)
    response = await ahttps.get(
        "/auth/v1/user", headers=cookie_header(sentinel_at=user.access_token)
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == user.id


async def test_bad_cookie_token_is_unauthorized(ahttps: httpx.AsyncClient) -> None:
    response = await ahttps.get("/auth/v1/user", headers=cookie_header(sentinel_at="garbage"))
    assert_problem(response, 401, "unauthorized")


CSRF_FAILURES = {
    "no_csrf_at_all": lambda csrf: ({}, None),
    "cookie_without_header": lambda csrf: ({"sentinel_csrf": csrf}, None),
    "header_without_cookie": lambda csrf: ({}, csrf),
    "mismatch": lambda csrf: ({"sentinel_csrf": csrf}, csrf + "x"),
    "empty_both": lambda csrf: ({"sentinel_csrf": ""}, ""),
}


@pytest.mark.parametrize("case", sorted(CSRF_FAILURES))
async def test_cookie_write_without_matching_csrf_is_refused(
    ahttps: httpx.AsyncClient, case: str
) -> None:
    user = await asignup(ahttps)
    csrf = secrets.token_urlsafe(16)
    extra_cookies, header = CSRF_FAILURES[case](csrf)
    headers = cookie_header(sentinel_at=user.access_token, **extra_cookies)
    if header is not None:
        headers["X-CSRF-Token"] = header
    name = f"CSRF {secrets.token_hex(4)}"
    response = await ahttps.post("/api/v1/orgs", json={"name": name}, headers=headers)
    assert_problem(response, 403, "csrf_failed")
    assert name not in await org_names(ahttps, user)
    # Logout is a write too: a cross-site POST must not end the session.
    out = await ahttps.post("/auth/v1/logout", headers=headers)
    assert_problem(out, 403, "csrf_failed")
    await assert_token_works(ahttps, user.access_token)
    assert (await refresh(ahttps, user.refresh_token)).status_code == 200


async def test_cookie_write_with_matching_csrf_passes(ahttps: httpx.AsyncClient) -> None:
    user = await asignup(ahttps)
    csrf = secrets.token_urlsafe(16)
    headers = {
        **cookie_header(sentinel_at=user.access_token, sentinel_csrf=csrf),
        "X-CSRF-Token": csrf,
    }
    name = f"CSRF ok {secrets.token_hex(4)}"
    response = await ahttps.post("/api/v1/orgs", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    assert name in await org_names(ahttps, user)


async def test_cookie_logout_with_csrf_ends_the_session(ahttps: httpx.AsyncClient) -> None:
    user = await asignup(ahttps)
    csrf = secrets.token_urlsafe(16)
    headers = {
        **cookie_header(sentinel_at=user.access_token, sentinel_csrf=csrf),
        "X-CSRF-Token": csrf,
    }
    assert (await ahttps.post("/auth/v1/logout", headers=headers)).status_code == 204
    response = await ahttps.get(
        "/auth/v1/user", headers=cookie_header(sentinel_at=user.access_token)
    )
    assert_problem(response, 401, "unauthorized")


async def test_bearer_writes_need_no_csrf(ahttps: httpx.AsyncClient) -> None:
    """CSRF is a cookie problem: programmatic clients with a bearer header are not asked."""
    user = await asignup(ahttps)
    response = await ahttps.post(
        "/api/v1/orgs", json={"name": "Bearer school"}, headers=user.headers
    )
    assert response.status_code == 201, response.text
