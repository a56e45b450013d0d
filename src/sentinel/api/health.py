"""Liveness (`/healthz`) and readiness (`/readyz`: PostgreSQL, Redis and the broker answer)."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sentinel.api.problems import problem_response
from sentinel.api.resources import Resources
from sentinel.broker.probe import probe_broker

router = APIRouter(tags=["health"])
CHECK_TIMEOUT = 3.0


@router.head("/healthz", include_in_schema=False)
@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _postgres(resources: Resources) -> None:
    async with resources.pool.acquire() as conn:
        await conn.fetchval("SELECT 1")


async def _redis(resources: Resources) -> None:
    await resources.redis.ping()


async def _broker(resources: Resources) -> None:
    await anyio.to_thread.run_sync(probe_broker, resources.broker, 2.0)


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> Any:
    resources: Resources = request.app.state.resources
    checks = {"postgres": _postgres, "redis": _redis, "broker": _broker}
    results: dict[str, str] = {}

    async def run(name: str) -> None:
        try:
            await asyncio.wait_for(checks[name](resources), CHECK_TIMEOUT)
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"failing: {exc.__class__.__name__}"

    await asyncio.gather(*(run(name) for name in checks))
    failing = sorted(name for name, value in results.items() if value != "ok")
    if failing:
        return problem_response(
            503,
            "not_ready",
            "Not ready",
            f"Unavailable: {', '.join(failing)}",
            failing=failing,
            checks=results,
        )
    return JSONResponse({"status": "ready", "checks": results})
