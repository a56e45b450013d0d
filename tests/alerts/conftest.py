"""Fixtures of the alert tests: the alert engine, run in-process against the session's stack."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sentinel.stack.launcher import Stack
from sentinel.stack.secrets import Secrets
from tests.alerts.support import Engine, engine_for


@pytest.fixture(scope="session")
async def engine(stack: Stack, secrets: Secrets) -> AsyncIterator[Engine]:
    async with engine_for(stack.settings, secrets) as engine:
        yield engine
