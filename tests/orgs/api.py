"""HTTP helpers for organization tests: problem+json checks, invitations, the audit log."""

from __future__ import annotations

from typing import Any

import httpx

from tests.people import User

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with `status` and the stable `code`."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status, body
    return body


def org_url(org_id: str, *parts: str) -> str:
    return "/".join([f"/api/v1/orgs/{org_id}", *parts]).rstrip("/")


def invite(
    https: httpx.Client, inviter: User, org_id: str, email: str, role: str = "readonly"
) -> dict[str, Any]:
    """A created invitation (with its one-time token)."""
    response = https.post(
        org_url(org_id, "invitations"), json={"email": email, "role": role}, headers=inviter.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def accept(https: httpx.Client, user: User, token: str) -> httpx.Response:
    return https.post("/api/v1/invitations/accept", json={"token": token}, headers=user.headers)


def members(https: httpx.Client, user: User, org_id: str) -> dict[str, str]:
    """user id → role of every member."""
    response = https.get(org_url(org_id, "members"), headers=user.headers)
    assert response.status_code == 200, response.text
    return {m["user_id"]: m["role"] for m in response.json()}


def set_role(
    https: httpx.Client, actor: User, org_id: str, user_id: str, role: str
) -> httpx.Response:
    return https.patch(
        org_url(org_id, "members", user_id), json={"role": role}, headers=actor.headers
    )


def remove(https: httpx.Client, actor: User, org_id: str, user_id: str) -> httpx.Response:
    return https.delete(org_url(org_id, "members", user_id), headers=actor.headers)


def audit_page(https: httpx.Client, user: User, org_id: str, **params: str | int) -> dict[str, Any]:
    response = https.get(org_url(org_id, "audit-log"), params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def audit_entries(
    https: httpx.Client, user: User, org_id: str, **params: str | int
) -> list[dict[str, Any]]:
    """Every matching entry, newest first, following the cursor across pages."""
    entries: list[dict[str, Any]] = []
    cursor: int | None = None
    while True:
        page = audit_page(
            https, user, org_id, **params, **({"cursor": cursor} if cursor is not None else {})
        )
        entries.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return entries
