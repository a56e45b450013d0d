"""`/healthz` and `/readyz`, through Caddy over HTTPS, and readiness failures named."""

from __future__ import annotations

import httpx

from sentinel.api.app import create_app
from sentinel.stack.launcher import Stack
from tests.harness import free_ports


def test_readyz_is_ready_over_https(https: httpx.Client) -> None:
    response = https.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"postgres": "ok", "redis": "ok", "broker": "ok"},
    }


def test_healthz_over_https(https: httpx.Client) -> None:
    assert https.get("/healthz").json() == {"status": "ok"}


async def test_readyz_names_the_failing_part(stack: Stack) -> None:
    (dead_port,) = free_ports(1)
    app = create_app(stack.settings.model_copy(update={"redis_port": dead_port}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["failing"] == ["redis"]
    assert body["checks"]["postgres"] == "ok" and body["checks"]["broker"] == "ok"


def test_unknown_path_is_problem_json(https: httpx.Client) -> None:
    response = https.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_unexpected_error_is_a_problem_without_a_stack_trace(stack: Stack) -> None:
    app = create_app(stack.settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            response = await client.get("/boom")
            again = await client.get("/healthz")
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    assert again.status_code == 200
