"""Fixtures for the rate-limit tests: API processes that run with the production limits.

The session's shared stack runs with very generous limits (see `GENEROUS_LIMITS`), so these
tests start two more real API processes (`sentinel serve-api`, the same component class the
launcher uses) against the same PostgreSQL, Redis and broker, but with the default limits of
`Settings`. Two processes prove that counters live in Redis rather than in process memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest

from sentinel.api.app import create_app
from sentinel.config import Settings
from sentinel.stack.launcher import Stack
from sentinel.stack.sentinel_processes import Api
from tests.conftest import GENEROUS_LIMITS
from tests.harness import free_ports

# Every rate limit at its default (production) value, straight from the settings model.
PRODUCTION_LIMITS: dict[str, str] = {
    name: str(Settings.model_fields[name].default) for name in GENEROUS_LIMITS
}
KEY_PREFIX = "sentinel:rl:"
# A loopback address other than the trusted proxy's: uvicorn must not trust its headers.
UNTRUSTED_PEER = "127.0.0.2"


class NamedApi(Api):
    """The real API component under a distinct name, so its log has a file of its own."""

    def __init__(self, settings: Settings, name: str) -> None:
        super().__init__(settings)
        self.name = name


@pytest.fixture(scope="session")
def production_settings(stack: Stack) -> Settings:
    """The shared stack's settings with the production limits (API port to be set)."""
    return stack.settings.model_copy(update=PRODUCTION_LIMITS)


@pytest.fixture(scope="session")
def limited_apis(production_settings: Settings) -> Iterator[list[NamedApi]]:
    """Two API processes with the production limits, sharing the stack's Redis."""
    apis = [
        NamedApi(production_settings.model_copy(update={"api_port": port}), f"api-rl{i}")
        for i, port in enumerate(free_ports(2), start=1)
    ]
    try:
        for api in apis:
            api.prepare()
            api.spawn(None)
        for api in apis:
            api.wait_ready()
        yield apis
    finally:
        for api in apis:
            api.stop()


@pytest.fixture
def api_clients(limited_apis: list[NamedApi]) -> Iterator[list[httpx.Client]]:
    """Plain HTTP clients, one per API process, connecting from 127.0.0.1 (the trusted proxy)."""
    clients = [
        httpx.Client(base_url=f"http://127.0.0.1:{api.settings.api_port}", timeout=15)
        for api in limited_apis
    ]
    try:
        yield clients
    finally:
        for client in clients:
            client.close()


@pytest.fixture
def untrusted_client(limited_apis: list[NamedApi]) -> Iterator[httpx.Client]:
    """A client to the first API process whose connections come from 127.0.0.2."""
    transport = httpx.HTTPTransport(local_address=UNTRUSTED_PEER)
    with httpx.Client(
        base_url=f"http://127.0.0.1:{limited_apis[0].settings.api_port}",
        transport=transport,
        timeout=15,
    ) as client:
        yield client


def limit_keys(stack: Stack) -> list[str]:
    """Every rate-limit key currently in Redis, without the storage prefix."""
    with stack.redis.client() as client:
        return sorted(
            key.decode().removeprefix(KEY_PREFIX)
            for key in client.scan_iter(match=f"{KEY_PREFIX}*", count=1000)
        )


@pytest.fixture(autouse=True)
def fresh_limits(stack: Stack) -> None:
    """Start every test with empty rate-limit windows (for every process sharing Redis)."""
    with stack.redis.client() as client:
        keys = list(client.scan_iter(match=f"{KEY_PREFIX}*", count=1000))
        if keys:
            client.delete(*keys)


@asynccontextmanager
async def in_process_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app in this process (lifespan included), reached through ASGI."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sentinel.test", timeout=15
        ) as client,
    ):
        yield client
