"""Stricter limits on costly and auth-sensitive endpoints, against real API processes.

Proves that organization creation is limited to 5 per minute per user (the 6th creates no
organization), that password logins are limited per account (10 per 15 minutes, whatever the
address) and per address (20 per minute, whatever the account) with even the right password
refused once throttled, and that sign-ups are limited to 10 per minute per address (the 11th
creates no user). Each limit is shared by both API processes.
"""

from __future__ import annotations

import asyncio
import secrets
from uuid import UUID

import httpx
import pytest

from sentinel.config import Settings
from tests.people import PASSWORD, signup, unique_email
from tests.ratelimit.checks import assert_allowed, assert_rate_limited, count_rows
from tests.ratelimit.conftest import NamedApi

ORGS = "/api/v1/orgs"
TOKEN = "/auth/v1/token?grant_type=password"
SIGNUP = "/auth/v1/signup"


def _login(client: httpx.Client, email: str, password: str, address: str) -> httpx.Response:
    return client.post(
        TOKEN, json={"email": email, "password": password}, headers={"X-Forwarded-For": address}
    )


async def test_sixth_organization_in_a_minute_is_refused(
    https: httpx.Client, api_clients: list[httpx.Client], settings: Settings
) -> None:
    user = signup(https)
    count = "SELECT count(*) FROM control.organizations WHERE created_by = $1"
    for n in range(5):
        created = api_clients[n % 2].post(ORGS, json={"name": f"School {n}"}, headers=user.headers)
        assert created.status_code == 201, created.text
    sixth = api_clients[1].post(ORGS, json={"name": "School 6"}, headers=user.headers)
    assert_rate_limited(sixth, limit=5, window_seconds=60)
    assert await count_rows(settings, count, UUID(user.id)) == 5

    # The limit is per user: someone else may still create an organization.
    other = signup(https)
    created = api_clients[0].post(ORGS, json={"name": "Other school"}, headers=other.headers)
    assert created.status_code == 201, created.text
    assert await count_rows(settings, count, UUID(other.id)) == 1


async def test_concurrent_organization_creation_stops_at_five(
    https: httpx.Client, limited_apis: list[NamedApi], settings: Settings
) -> None:
    user = signup(https)
    clients = [
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{api.settings.api_port}", timeout=60)
        for api in limited_apis
    ]
    try:
        responses = await asyncio.gather(
            *(
                clients[n % 2].post(ORGS, json={"name": f"Rush {n}"}, headers=user.headers)
                for n in range(10)
            )
        )
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    assert sorted(r.status_code for r in responses) == [201] * 5 + [429] * 5
    count = "SELECT count(*) FROM control.organizations WHERE created_by = $1"
    assert await count_rows(settings, count, UUID(user.id)) == 5


def test_login_is_limited_per_account_whatever_the_address(
    https: httpx.Client, api_clients: list[httpx.Client]
) -> None:
    user = signup(https)
    for n in range(10):  # ten wrong guesses, each from another address and process
        refused = _login(api_clients[n % 2], user.email, "wrong password", f"192.0.2.{n + 1}")
        assert refused.status_code == 400, refused.text
        assert refused.json()["code"] == "invalid_credentials"
    # The right password from yet another address is throttled too: no 11th guess is judged.
    for n, client in enumerate(api_clients):
        throttled = _login(client, user.email, PASSWORD, f"192.0.2.{100 + n}")
        assert_rate_limited(throttled, limit=10, window_seconds=15 * 60)
        assert "access_token" not in throttled.json()
    # Another account from the same addresses is not affected.
    other = signup(https)
    assert _login(api_clients[0], other.email, PASSWORD, "192.0.2.1").status_code == 200


def test_login_is_limited_per_address_whatever_the_account(
    https: httpx.Client, api_clients: list[httpx.Client]
) -> None:
    user = signup(https)
    address = "192.0.2.200"
    for n in range(20):  # twenty guesses at twenty different accounts from one address
        refused = _login(api_clients[n % 2], unique_email("nobody"), "guess", address)
        assert refused.status_code == 400, refused.text
    throttled = _login(api_clients[0], user.email, PASSWORD, address)
    assert_rate_limited(throttled, limit=20, window_seconds=60)
    assert "access_token" not in throttled.json()
    # The throttled address did not count against the account: it signs in from elsewhere.
    allowed = _login(api_clients[1], user.email, PASSWORD, "192.0.2.201")
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["user"]["id"] == user.id


@pytest.mark.parametrize("throttled_process", [0, 1])
async def test_eleventh_signup_from_an_address_is_refused(
    api_clients: list[httpx.Client], settings: Settings, throttled_process: int
) -> None:
    address = {"X-Forwarded-For": f"192.0.2.{210 + throttled_process}"}
    for n in range(10):
        body = {"email": unique_email("signup"), "password": PASSWORD}
        created = api_clients[n % 2].post(SIGNUP, json=body, headers=address)
        assert_allowed(created, 200, limit=100, remaining=99 - n)  # global headers on success
    email = unique_email(f"eleventh-{secrets.token_hex(2)}")
    body = {"email": email, "password": PASSWORD}
    refused = api_clients[throttled_process].post(SIGNUP, json=body, headers=address)
    assert_rate_limited(refused, limit=10, window_seconds=60)
    users = "SELECT count(*) FROM control.users WHERE email = $1"
    assert await count_rows(settings, users, email) == 0
    # Another address may still sign up.
    elsewhere = {"X-Forwarded-For": f"192.0.2.{220 + throttled_process}"}
    assert api_clients[0].post(SIGNUP, json=body, headers=elsewhere).status_code == 200
    assert await count_rows(settings, users, email) == 1
