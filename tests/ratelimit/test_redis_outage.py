"""What the limits do when Redis cannot be reached, with an in-process app on real PostgreSQL.

Proves that the auth-sensitive limits fail closed (login, sign-up and organization creation
answer 503 `rate_limiter_unavailable` and nothing is created) while the global limit fails open
(ordinary requests, signed in or not, are still served). Also proves that an app's limiter
releases its Redis connections when the app shuts down.
"""

from __future__ import annotations

from uuid import UUID

import httpx
import psutil

from sentinel.config import Settings
from tests.harness import free_ports
from tests.people import PASSWORD, signup, unique_email
from tests.ratelimit.checks import PROBLEM_JSON, count_rows
from tests.ratelimit.conftest import PRODUCTION_LIMITS, in_process_api


def _unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["code"] == "rate_limiter_unavailable"


async def test_sensitive_limits_fail_closed_and_global_fails_open(
    https: httpx.Client, settings: Settings
) -> None:
    user = signup(https)
    (dead_port,) = free_ports(1)
    outage = settings.model_copy(update={**PRODUCTION_LIMITS, "redis_port": dead_port})
    async with in_process_api(outage) as api:
        login = await api.post(
            "/auth/v1/token?grant_type=password",
            json={"email": user.email, "password": PASSWORD},
        )
        _unavailable(login)
        assert "access_token" not in login.json()

        email = unique_email("outage")
        _unavailable(await api.post("/auth/v1/signup", json={"email": email, "password": PASSWORD}))
        users = "SELECT count(*) FROM control.users WHERE email = $1"
        assert await count_rows(settings, users, email) == 0

        org = await api.post("/api/v1/orgs", json={"name": "Outage"}, headers=user.headers)
        _unavailable(org)
        orgs = "SELECT count(*) FROM control.organizations WHERE created_by = $1"
        assert await count_rows(settings, orgs, UUID(user.id)) == 0

        # The global limit fails open: a signed-in request is served, and so are more than
        # 100 requests of one client in a row (each unauthenticated request is cheap here; a
        # signed-in one waits for the session cache's Redis client to give up, see report).
        whoami = await api.get("/auth/v1/user", headers=user.headers)
        assert whoami.status_code == 200, whoami.text
        assert whoami.json()["id"] == user.id
        for _ in range(101):
            public = await api.get("/auth/v1/.well-known/jwks.json")
            assert public.status_code == 200, public.text


def _connections_to(port: int) -> int:
    return sum(
        1
        for conn in psutil.Process().net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == port and conn.status == psutil.CONN_ESTABLISHED
    )


async def test_limiter_releases_its_redis_connections_on_shutdown(settings: Settings) -> None:
    before = _connections_to(settings.redis_port)
    async with in_process_api(settings) as api:
        assert (await api.get("/auth/v1/.well-known/jwks.json")).status_code == 200
        assert _connections_to(settings.redis_port) > before
    assert _connections_to(settings.redis_port) == before
