"""Two fresh organizations (each with its own owner) for database-level tests."""

from __future__ import annotations

from uuid import UUID

import httpx
import pytest

from tests.people import create_org, signup


@pytest.fixture
def two_orgs(https: httpx.Client) -> tuple[UUID, UUID]:
    return (
        UUID(create_org(https, signup(https))["id"]),
        UUID(create_org(https, signup(https))["id"]),
    )
