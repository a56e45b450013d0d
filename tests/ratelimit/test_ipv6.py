"""IPv6 clients are counted per /64 network, not per address.

One IPv6 customer (a home, a school site) is routinely given a whole /64, i.e. 2**64 addresses;
counting per address would let a single client rotate addresses and never be limited. Proves,
through the trusted-proxy path of real API processes, that the global limit and the per-address
login and enrollment limits count an IPv6 /64 as one client, that other networks are separate,
and that an IPv4-mapped IPv6 address counts as the IPv4 address it maps.
"""

from __future__ import annotations

import secrets

import httpx

from sentinel.stack.launcher import Stack
from tests.ratelimit.checks import assert_allowed, assert_rate_limited
from tests.ratelimit.conftest import limit_keys

PUBLIC = "/auth/v1/.well-known/jwks.json"


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def test_global_limit_counts_an_ipv6_network_once(
    api_clients: list[httpx.Client], stack: Stack
) -> None:
    for n in range(100):  # a different address of the same /64 every time
        response = api_clients[n % 2].get(PUBLIC, headers=_from(f"2001:db8:1:2::{n + 1:x}"))
        assert_allowed(response, 200, 100, 99 - n)
    rotated = _from(f"2001:db8:1:2:{secrets.token_hex(2)}:{secrets.token_hex(2)}::1")
    assert_rate_limited(api_clients[0].get(PUBLIC, headers=rotated), 100, 60)
    assert_allowed(api_clients[1].get(PUBLIC, headers=_from("2001:db8:1:3::1")), 200, 100, 99)
    assert "LIMITER/global/ip:2001:db8:1:2::/64/100/1/minute" in limit_keys(stack)


def test_ipv4_mapped_address_counts_as_ipv4(api_clients: list[httpx.Client]) -> None:
    for n in range(50):
        assert_allowed(api_clients[0].get(PUBLIC, headers=_from("198.51.100.9")), 200, 100, 99 - n)
    mapped = api_clients[1].get(PUBLIC, headers=_from("::ffff:198.51.100.9"))
    assert_allowed(mapped, 200, 100, 49)


def test_login_and_enrollment_count_an_ipv6_network_once(api_clients: list[httpx.Client]) -> None:
    for n in range(20):
        guess = api_clients[n % 2].post(
            "/auth/v1/token?grant_type=password",
            json={"email": f"nobody{n}@school.example", "password": "guess"},
            headers=_from(f"2001:db8:5:6::{n + 1:x}"),
        )
        assert guess.status_code == 400, guess.text
    throttled = api_clients[0].post(
        "/auth/v1/token?grant_type=password",
        json={"email": "nobody@school.example", "password": "guess"},
        headers=_from("2001:db8:5:6::ffff"),
    )
    assert_rate_limited(throttled, 20, 60)

    for n in range(10):
        guess = api_clients[n % 2].post(
            "/api/v1/agent/enroll",
            json={"token": f"set_{secrets.token_urlsafe(32)}"},
            headers=_from(f"2001:db8:7:8::{n + 1:x}"),
        )
        assert guess.status_code != 429, guess.text
    throttled = api_clients[1].post(
        "/api/v1/agent/enroll",
        json={"token": f"set_{secrets.token_urlsafe(32)}"},
        headers=_from("2001:db8:7:8::ffff"),
    )
    assert_rate_limited(throttled, 10, 60)
