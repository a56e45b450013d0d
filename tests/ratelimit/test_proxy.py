"""The client address of per-address limits follows X-Forwarded-For only from the trusted proxy.

The API runs behind Caddy with uvicorn trusting forwarded headers from 127.0.0.1 only. Proven
here with real processes: a request from 127.0.0.1 (where Caddy connects from) is counted
against the address in X-Forwarded-For, so distinct forwarded addresses get distinct buckets;
a request from another peer (127.0.0.2, a loopback address the API does not trust) is counted
against that peer whatever X-Forwarded-For it sends, so rotating the header buys nothing; and
Caddy itself replaces an X-Forwarded-For sent by the client with the real peer address, so the
header cannot be spoofed through the public entry either.
"""

from __future__ import annotations

import httpx

from sentinel.stack.launcher import Stack
from tests.people import PASSWORD, unique_email
from tests.ratelimit.checks import assert_allowed, assert_rate_limited
from tests.ratelimit.conftest import UNTRUSTED_PEER, limit_keys

PUBLIC = "/auth/v1/.well-known/jwks.json"


def _forwarded(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def test_trusted_proxy_forwarded_address_is_the_client(
    api_clients: list[httpx.Client], stack: Stack
) -> None:
    spoofed = _forwarded("203.0.113.7")
    for n in range(100):
        assert_allowed(api_clients[n % 2].get(PUBLIC, headers=spoofed), 200, 100, 99 - n)
    assert_rate_limited(api_clients[0].get(PUBLIC, headers=spoofed), 100, 60)
    # Other forwarded addresses, and the proxy's own address, have buckets of their own.
    assert_allowed(api_clients[1].get(PUBLIC, headers=_forwarded("203.0.113.8")), 200, 100, 99)
    assert_allowed(api_clients[0].get(PUBLIC), 200, 100, 99)
    # The last hop appended by the proxy is the client (a client-supplied prefix is ignored).
    chain = _forwarded("10.9.9.9, 203.0.113.7")
    assert_rate_limited(api_clients[1].get(PUBLIC, headers=chain), 100, 60)
    keys = limit_keys(stack)
    for address in ("203.0.113.7", "203.0.113.8", "127.0.0.1"):
        assert f"LIMITER/global/ip:{address}/100/1/minute" in keys
    assert not [key for key in keys if "10.9.9.9" in key]


def test_untrusted_peer_cannot_choose_its_address(
    untrusted_client: httpx.Client, api_clients: list[httpx.Client], stack: Stack
) -> None:
    for n in range(100):  # a new forwarded address every time: all counted against the peer
        response = untrusted_client.get(PUBLIC, headers=_forwarded(f"203.0.113.{n + 1}"))
        assert_allowed(response, 200, 100, 99 - n)
    refused = untrusted_client.get(PUBLIC, headers=_forwarded("198.51.100.200"))
    assert_rate_limited(refused, 100, 60)
    keys = limit_keys(stack)
    assert f"LIMITER/global/ip:{UNTRUSTED_PEER}/100/1/minute" in keys
    assert not [key for key in keys if "203.0.113." in key or "198.51.100.200" in key]
    # The forwarded addresses it claimed are untouched when the trusted proxy sends them.
    trusted = api_clients[0].get(PUBLIC, headers=_forwarded("203.0.113.1"))
    assert_allowed(trusted, 200, 100, 99)


def test_untrusted_peer_login_limit_ignores_forwarded_header(
    untrusted_client: httpx.Client,
) -> None:
    for n in range(20):
        body = {"email": f"nobody{n}@school.example", "password": "guess"}
        headers = _forwarded(f"203.0.113.{n + 1}")
        response = untrusted_client.post(
            "/auth/v1/token?grant_type=password", json=body, headers=headers
        )
        assert response.status_code == 400, response.text
    body = {"email": "nobody@school.example", "password": "guess"}
    refused = untrusted_client.post(
        "/auth/v1/token?grant_type=password", json=body, headers=_forwarded("203.0.113.99")
    )
    assert_rate_limited(refused, 20, 60)


def test_caddy_replaces_a_client_supplied_forwarded_address(https: httpx.Client) -> None:
    """Through the public entry, the address the API records is the real peer's."""
    response = https.post(
        "/auth/v1/signup",
        json={"email": unique_email("proxied"), "password": PASSWORD},
        headers=_forwarded("203.0.113.250"),
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    sessions = https.get(
        "/auth/v1/sessions",
        headers={"Authorization": f"Bearer {token}", **_forwarded("203.0.113.251")},
    )
    assert sessions.status_code == 200, sessions.text
    assert [s["ip"] for s in sessions.json()] == ["127.0.0.1"]
