"""Enrollment limits and how devices are counted, against real API processes.

Proves that agent enrollment is limited to 10 attempts per minute per address (so guessing
enrollment tokens from one address stops at the 11th, even with a valid token) and per token
(whatever the address), and that requests carrying a valid device token are counted per device
rather than per address: a school's devices behind one NAT address must not use up the bucket
that the staff's sign-in requests from the same address are counted in.
"""

from __future__ import annotations

import secrets

import httpx

from tests.fleet import enroll, enrollment_token
from tests.people import PASSWORD, create_org, signup
from tests.ratelimit.checks import assert_allowed, assert_rate_limited

ENROLL = "/api/v1/agent/enroll"
CONFIG = "/api/v1/agent/config"


def _bogus_token() -> str:
    return f"set_{secrets.token_urlsafe(32)}"


def _enroll(client: httpx.Client, token: str, address: str) -> httpx.Response:
    return client.post(
        ENROLL,
        json={"token": token, "hostname": f"pc-{secrets.token_hex(3)}"},
        headers={"X-Forwarded-For": address},
    )


def test_enrollment_is_limited_per_address(
    https: httpx.Client, api_clients: list[httpx.Client]
) -> None:
    owner = signup(https)
    org = create_org(https, owner)
    valid = enrollment_token(https, owner, org["id"])
    address = "192.0.2.150"
    for n in range(10):  # ten guesses from one address
        guess = _enroll(api_clients[n % 2], _bogus_token(), address)
        assert 400 <= guess.status_code < 500, guess.text
        assert guess.status_code != 429, guess.text
    throttled = _enroll(api_clients[0], valid, address)
    assert_rate_limited(throttled, limit=10, window_seconds=60)
    assert "device_token" not in throttled.json()
    # The valid token was not spent: it enrolls from another address.
    enrolled = _enroll(api_clients[1], valid, "192.0.2.151")
    assert enrolled.status_code == 200, enrolled.text


def test_enrollment_is_limited_per_token(api_clients: list[httpx.Client]) -> None:
    token = _bogus_token()
    for n in range(10):  # the same token tried from ten addresses
        guess = _enroll(api_clients[n % 2], token, f"192.0.2.{160 + n}")
        assert 400 <= guess.status_code < 500 and guess.status_code != 429, guess.text
    assert_rate_limited(_enroll(api_clients[1], token, "192.0.2.170"), limit=10, window_seconds=60)
    # Another token from a fresh address is judged normally.
    other = _enroll(api_clients[0], _bogus_token(), "192.0.2.171")
    assert other.status_code != 429, other.text


def test_devices_are_counted_per_device_not_per_address(
    https: httpx.Client, api_clients: list[httpx.Client]
) -> None:
    owner = signup(https)
    org = create_org(https, owner)
    token = enrollment_token(https, owner, org["id"])
    devices = [enroll(https, token) for _ in range(2)]
    school = {"X-Forwarded-For": "192.0.2.180"}  # one NAT address for the whole school
    for n in range(100):  # the school's first device polls its configuration a lot
        device = {**school, "Authorization": f"Bearer {devices[0].token}"}
        assert_allowed(api_clients[n % 2].get(CONFIG, headers=device), 200, 100, 99 - n)
    device = {**school, "Authorization": f"Bearer {devices[0].token}"}
    assert_rate_limited(api_clients[0].get(CONFIG, headers=device), 100, 60)
    # Another device and the staff behind the same address are not affected.
    second = {**school, "Authorization": f"Bearer {devices[1].token}"}
    assert_allowed(api_clients[1].get(CONFIG, headers=second), 200, 100, 99)
    login = api_clients[0].post(
        "/auth/v1/token?grant_type=password",
        json={"email": owner.email, "password": PASSWORD},
        headers=school,
    )
    assert_allowed(login, 200, 100, 99)


def test_invalid_device_tokens_are_counted_per_address(api_clients: list[httpx.Client]) -> None:
    address = {"X-Forwarded-For": "192.0.2.190"}
    for n in range(100):  # a fresh made-up device token every time buys no fresh bucket
        forged = {**address, "Authorization": f"Bearer sdt_{secrets.token_urlsafe(32)}"}
        assert_allowed(api_clients[n % 2].get(CONFIG, headers=forged), 401, 100, 99 - n)
    forged = {**address, "Authorization": f"Bearer sdt_{secrets.token_urlsafe(32)}"}
    assert_rate_limited(api_clients[0].get(CONFIG, headers=forged), 100, 60)
