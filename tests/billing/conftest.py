"""Fixtures of the billing tests: a fresh school per test and the local Stripe stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from sentinel.config import Settings
from sentinel.stack.launcher import Stack
from tests.billing.stripe_server import FakeStripe
from tests.billing.support import in_process, stripe_settings, write_plans
from tests.devices.api import School, new_school


@pytest.fixture
def school(https: httpx.Client) -> School:
    return new_school(https)


@pytest.fixture(scope="session")
def fake_stripe() -> Iterator[FakeStripe]:
    server = FakeStripe()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def plans_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_plans(tmp_path_factory.mktemp("billing"))


@pytest.fixture
def stripe_config(stack: Stack, fake_stripe: FakeStripe, plans_file: Path) -> Settings:
    """The shared stack's settings with Stripe billing against the local stand-in."""
    return stripe_settings(stack.settings, fake_stripe.base_url, plans_file)


@pytest.fixture
async def stripe_api(stripe_config: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process API that bills through Stripe (same database, Redis and broker)."""
    async with in_process(stripe_config) as client:
        yield client
