"""A fresh organization (with its owner) for each device test."""

from __future__ import annotations

import httpx
import pytest

from tests.devices.api import School, new_school


@pytest.fixture
def school(https: httpx.Client) -> School:
    return new_school(https)
