"""Assertions shared by the rate-limit tests."""

from __future__ import annotations

import httpx

from sentinel.config import Settings
from sentinel.db.connect import connect, pg_target

PROBLEM_JSON = "application/problem+json"


def assert_rate_limited(response: httpx.Response, limit: int, window_seconds: int) -> int:
    """A 429 problem+json with Retry-After and RateLimit-* headers; returns Retry-After."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["code"] == "rate_limited"
    assert body["status"] == 429
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit(), retry_after
    assert 0 < int(retry_after) <= window_seconds
    assert response.headers["RateLimit-Limit"] == str(limit)
    assert response.headers["RateLimit-Remaining"] == "0"
    assert 0 < int(response.headers["RateLimit-Reset"]) <= window_seconds
    return int(retry_after)


def assert_allowed(response: httpx.Response, status: int, limit: int, remaining: int) -> None:
    """Answered normally, with the RateLimit headers of a bucket holding `remaining` more."""
    assert response.status_code == status, response.text
    assert response.headers["RateLimit-Limit"] == str(limit)
    assert response.headers["RateLimit-Remaining"] == str(remaining)


async def count_rows(settings: Settings, sql: str, *args: object) -> int:
    """`SELECT count(*) …` as the owner role (sees every control table)."""
    conn = await connect(pg_target(settings, "owner"))
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()
