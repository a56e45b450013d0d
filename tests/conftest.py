"""One real stack per test session, booted by the same launcher as `sentinel up`."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from sentinel.config import Settings
from sentinel.logging import configure_logging
from sentinel.stack.launcher import Stack
from sentinel.stack.secrets import Secrets, load_secrets
from tests.harness import stack_settings, trust


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "last: run after every other test of the session")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sentinel-test-") as tmp:
        yield Path(tmp)


# The shared stack allows far more than the production defaults so that tests acting as one
# client do not trip each other's limits; tests of the limits run their own API processes.
GENEROUS_LIMITS = {
    "rate_limit_global": "100000/minute",
    "rate_limit_org_create": "100000/minute",
    "rate_limit_login_address": "100000/minute",
    "rate_limit_login_account": "100000/minute",
    "rate_limit_signup": "100000/minute",
    "rate_limit_enrollment": "100000/minute",
    "rate_limit_billing": "100000/minute",
}


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    return stack_settings(data_dir / "stack", **GENEROUS_LIMITS)


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[Stack]:
    configure_logging("warning")
    stack = Stack(settings)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def secrets(stack: Stack) -> Secrets:
    return load_secrets(stack.settings.secrets_dir)


@pytest.fixture
def https(stack: Stack) -> Iterator[httpx.Client]:
    """An HTTPS client that goes through Caddy and trusts only the local CA."""
    with httpx.Client(
        base_url=stack.settings.public_url, verify=trust(stack.settings), timeout=10
    ) as client:
        yield client


@pytest.fixture
async def ahttps(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.settings.public_url, verify=trust(stack.settings), timeout=10
    ) as client:
        yield client


@pytest.fixture
def redis_client(stack: Stack) -> Iterator[redis.Redis]:
    with stack.redis.client() as client:
        yield client
