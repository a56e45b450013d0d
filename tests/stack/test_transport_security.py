"""Verified TLS to PostgreSQL, password-protected Redis, TLS ≥ 1.2 and headers at Caddy."""

from __future__ import annotations

import ssl
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis

from sentinel.db.connect import connect, pg_target, verify_full_context
from sentinel.stack.launcher import Stack
from sentinel.stack.tls import create_ca
from tests.harness import tls_handshake


async def test_app_connects_to_postgres_with_verify_full(stack: Stack) -> None:
    conn = await connect(pg_target(stack.settings, "app"))
    try:
        assert await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert await conn.fetchval("SELECT current_user") == "sentinel_app"
    finally:
        await conn.close()


async def test_postgres_connection_fails_with_wrong_ca(stack: Stack, tmp_path: Path) -> None:
    other_ca, _ = create_ca("Someone else's CA")
    (tmp_path / "other.crt").write_bytes(other_ca)
    target = pg_target(stack.settings, "app")
    kwargs = target.connect_kwargs() | {"ssl": verify_full_context(tmp_path / "other.crt")}
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncpg.connect(timeout=5, **kwargs)


async def test_postgres_refuses_plain_tcp(stack: Stack) -> None:
    kwargs = pg_target(stack.settings, "app").connect_kwargs() | {"ssl": False}
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="no encryption"):
        await asyncpg.connect(timeout=5, **kwargs)


async def test_application_role_is_noinherit_and_unprivileged(stack: Stack) -> None:
    conn = await connect(pg_target(stack.settings, "app"))
    try:
        row = await conn.fetchrow(
            "SELECT rolinherit, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
            "WHERE rolname = current_user"
        )
        assert tuple(row) == (False, False, False, False)
    finally:
        await conn.close()


def test_redis_refuses_commands_without_password(stack: Stack) -> None:
    with (
        redis.Redis(host="127.0.0.1", port=stack.settings.redis_port) as anonymous,
        pytest.raises(redis.AuthenticationError),
    ):
        anonymous.set("probe", "1")


def test_redis_has_memory_cap_and_policy(redis_client: redis.Redis) -> None:
    config = redis_client.config_get("maxmemory*")
    assert int(config["maxmemory"]) > 0
    assert config["maxmemory-policy"] == "volatile-lru"


def test_caddy_refuses_tls_1_1_and_accepts_1_2(stack: Stack) -> None:
    assert (
        tls_handshake(stack.settings, stack.settings.https_port, ssl.TLSVersion.TLSv1_2)
        == "TLSv1.2"
    )
    with pytest.raises(ssl.SSLError):
        tls_handshake(stack.settings, stack.settings.https_port, ssl.TLSVersion.TLSv1_1)


def test_https_sends_security_headers(https: httpx.Client) -> None:
    response = https.get("/healthz")
    assert response.status_code == 200
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "server" not in response.headers


def test_plain_http_redirects_to_https(stack: Stack) -> None:
    response = httpx.get(f"http://localhost:{stack.settings.http_port}/readyz")
    assert response.status_code == 308 or response.status_code == 301
    assert response.headers["location"] == f"https://localhost:{stack.settings.https_port}/readyz"
