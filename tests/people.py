"""Test helpers that act as people through the public HTTPS API."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

PASSWORD = "correct horse battery staple"


@dataclass
class User:
    email: str
    password: str
    id: str
    access_token: str
    refresh_token: str
    session_id: str = field(default="")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{secrets.token_hex(6)}@school.example"


def _user(email: str, password: str, body: dict[str, Any]) -> User:
    return User(email, password, body["user"]["id"], body["access_token"], body["refresh_token"])


def signup(https: httpx.Client, email: str | None = None, password: str = PASSWORD) -> User:
    email = email or unique_email()
    response = https.post("/auth/v1/signup", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return _user(email, password, response.json())


def login(https: httpx.Client, email: str, password: str = PASSWORD) -> User:
    response = https.post(
        "/auth/v1/token",
        params={"grant_type": "password"},
        json={"email": email, "password": password},
    )
    assert response.status_code == 200, response.text
    return _user(email, password, response.json())


def create_org(https: httpx.Client, owner: User, name: str | None = None) -> dict[str, Any]:
    response = https.post(
        "/api/v1/orgs",
        json={"name": name or f"School {secrets.token_hex(3)}"},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def add_member(https: httpx.Client, owner: User, org_id: str, role: str) -> User:
    """Invite a new person with `role` and have them sign up and accept."""
    member = signup(https)
    invited = https.post(
        f"/api/v1/orgs/{org_id}/invitations",
        json={"email": member.email, "role": role},
        headers=owner.headers,
    )
    assert invited.status_code == 201, invited.text
    accepted = https.post(
        "/api/v1/invitations/accept",
        json={"token": invited.json()["token"]},
        headers=member.headers,
    )
    assert accepted.status_code == 200, accepted.text
    return member
