"""An organization with an owner, an admin and a readonly member, fresh for each test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.people import User, add_member, create_org, signup


@dataclass(frozen=True)
class Team:
    org: dict[str, Any]
    owner: User
    admin: User
    readonly: User

    @property
    def org_id(self) -> str:
        return str(self.org["id"])


@pytest.fixture
def team(https: httpx.Client) -> Team:
    owner = signup(https)
    org = create_org(https, owner)
    return Team(
        org,
        owner,
        add_member(https, owner, org["id"], "admin"),
        add_member(https, owner, org["id"], "readonly"),
    )
