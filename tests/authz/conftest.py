"""Two prepared organizations, A and B, shared by the tests of one module."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sentinel.stack.launcher import Stack
from tests.authz.catalog import OrgWorld, build_org
from tests.harness import trust


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    """A module-long HTTPS client through Caddy, for preparing organizations."""
    with httpx.Client(
        base_url=stack.settings.public_url, verify=trust(stack.settings), timeout=10
    ) as https:
        yield https


@pytest.fixture(scope="module")
def org_a(client: httpx.Client) -> OrgWorld:
    return build_org(client, "a")


@pytest.fixture(scope="module")
def org_b(client: httpx.Client) -> OrgWorld:
    return build_org(client, "b")
