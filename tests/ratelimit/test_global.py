"""The global per-client limit (100 requests/minute) against two real API processes.

Proves that the window is shared (and counted atomically, even under concurrent requests) through Redis by every API process, that a signed-in client is
counted per user (and another user has a bucket of its own), that clients without a valid
token are counted per address, that the 101st request is refused with 429 problem+json carrying
`Retry-After` and `RateLimit-*` headers, and that the health endpoints are never limited.
"""

from __future__ import annotations

import asyncio

import httpx
from limits import parse

from sentinel.config import Settings
from sentinel.stack.launcher import Stack
from tests.people import User, signup
from tests.ratelimit.checks import assert_allowed, assert_rate_limited
from tests.ratelimit.conftest import NamedApi, limit_keys

WHOAMI = "/auth/v1/user"
PUBLIC = "/auth/v1/.well-known/jwks.json"


def test_production_defaults_match_the_security_architecture() -> None:
    """The documented limits: global 100/min, enrollment and billing 10/min, orgs 5/min."""
    expected = {
        "rate_limit_global": (100, 60),
        "rate_limit_org_create": (5, 60),
        "rate_limit_enrollment": (10, 60),
        "rate_limit_billing": (10, 60),
        "rate_limit_signup": (10, 60),
        "rate_limit_login_address": (20, 60),
        "rate_limit_login_account": (10, 15 * 60),
    }
    for name, (amount, seconds) in expected.items():
        item = parse(str(Settings.model_fields[name].default))
        assert (item.amount, item.get_expiry()) == (amount, seconds), name


def test_global_limit_is_shared_by_every_api_process(
    https: httpx.Client, api_clients: list[httpx.Client], stack: Stack
) -> None:
    user = signup(https)
    for n in range(100):
        response = api_clients[n % 2].get(WHOAMI, headers=user.headers)
        assert_allowed(response, 200, limit=100, remaining=99 - n)
        assert response.json()["id"] == user.id
    for client in api_clients:  # the 101st (and 102nd) request, whichever process gets it
        refused = client.get(WHOAMI, headers=user.headers)
        assert_rate_limited(refused, limit=100, window_seconds=60)
        assert refused.headers["X-Request-ID"]
    assert f"LIMITER/global/user:{user.id}/100/1/minute" in limit_keys(stack)

    # Another user has a bucket of its own, as does the address the requests came from.
    other: User = signup(https)
    assert_allowed(api_clients[1].get(WHOAMI, headers=other.headers), 200, 100, 99)
    assert_allowed(api_clients[0].get(PUBLIC), 200, 100, 99)


def test_clients_without_a_valid_token_are_counted_per_address(
    https: httpx.Client, api_clients: list[httpx.Client]
) -> None:
    user = signup(https)
    address = {"X-Forwarded-For": "198.51.100.23"}
    forged = {**address, "Authorization": f"Bearer {user.access_token[:-6]}AAAAAA"}
    for n in range(100):
        client = api_clients[n % 2]
        if n % 10 == 0:  # an invalid token does not buy a fresh bucket: the address pays
            assert_allowed(client.get(WHOAMI, headers=forged), 401, 100, 99 - n)
        else:
            assert_allowed(client.get(PUBLIC, headers=address), 200, 100, 99 - n)
    for client in api_clients:
        assert_rate_limited(client.get(PUBLIC, headers=address), 100, 60)

    # The same address with a valid token is counted per user; another address is untouched.
    signed_in = {**address, **user.headers}
    assert_allowed(api_clients[0].get(WHOAMI, headers=signed_in), 200, 100, 99)
    elsewhere = {"X-Forwarded-For": "198.51.100.24"}
    assert_allowed(api_clients[1].get(PUBLIC, headers=elsewhere), 200, 100, 99)


def test_health_endpoints_are_never_limited(api_clients: list[httpx.Client]) -> None:
    address = {"X-Forwarded-For": "198.51.100.25"}
    for n in range(100):
        assert_allowed(api_clients[n % 2].get(PUBLIC, headers=address), 200, 100, 99 - n)
    assert_rate_limited(api_clients[0].get(PUBLIC, headers=address), 100, 60)
    for client in api_clients:
        assert client.get("/healthz", headers=address).status_code == 200
        ready = client.get("/readyz", headers=address)
        assert ready.status_code == 200, ready.text
        assert "RateLimit-Limit" not in ready.headers


async def test_concurrent_requests_never_exceed_the_limit(
    https: httpx.Client, limited_apis: list[NamedApi]
) -> None:
    user = signup(https)
    clients = [
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{api.settings.api_port}", timeout=30)
        for api in limited_apis
    ]
    try:
        responses = await asyncio.gather(
            *(clients[n % 2].get(WHOAMI, headers=user.headers) for n in range(140))
        )
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * 100 + [429] * 40
    remaining = sorted(
        int(r.headers["RateLimit-Remaining"]) for r in responses if r.status_code == 200
    )
    assert remaining[0] == 0
