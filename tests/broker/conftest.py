"""Fixtures of the broker tests: a fresh organization and a service-side observer."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sentinel.stack.launcher import Stack
from tests.broker.mqtt import ServiceObserver
from tests.devices.api import School, new_school


@pytest.fixture
def school(https: httpx.Client) -> School:
    return new_school(https)


@pytest.fixture
def observer(stack: Stack) -> Iterator[ServiceObserver]:
    """Sees everything the broker routes under `sentinel/#` and `$SYS/#`."""
    with ServiceObserver(stack) as watching:
        yield watching
