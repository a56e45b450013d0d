"""Two prepared organizations, A and B, shared by the tests of one module."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sentinel.stack.launcher import Stack
from tests.authz.catalog import OrgWorld, prepare_org
from tests.harness import trust


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    """A module-long HTTPS client through Caddy, for preparing organizations."""
    with httpx.Client(
        base_url=stack.settings.public_url, verify=trust(stack.settings), timeout=10
    ) as https:
        yield https


@pytest.fixture(scope="module")
async def org_a(client: httpx.Client, stack: Stack) -> OrgWorld:
    return await prepare_org(client, stack.settings, "a")


@pytest.fixture(scope="module")
async def org_b(client: httpx.Client, stack: Stack) -> OrgWorld:
    return await prepare_org(client, stack.settings, "b")
