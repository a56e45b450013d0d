"""HTTP and database helpers shared by the device and broker tests.

A `School` is a fresh organization with its owner; devices are enrolled through the public
agent API (`tests.fleet.enroll`). Database helpers use the owner role, as an operator would,
for what the API deliberately cannot do (expire a token, change a seat limit).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import httpx

from sentinel.config import Settings
from sentinel.db.connect import Role, connect, pg_target
from tests.fleet import Enrollment, enroll, enrollment_token
from tests.orgs.api import org_url
from tests.people import User, add_member, create_org, signup

T = TypeVar("T")
AGENT_ENROLL = "/api/v1/agent/enroll"
AGENT_CONFIG = "/api/v1/agent/config"


@dataclass(frozen=True)
class School:
    """An organization and its owner."""

    org_id: str
    name: str
    owner: User

    def url(self, *parts: str) -> str:
        return org_url(self.org_id, *parts)

    def device_url(self, device_id: str, *parts: str) -> str:
        return self.url("devices", device_id, *parts)


def new_school(https: httpx.Client) -> School:
    owner = signup(https)
    org = create_org(https, owner)
    return School(str(org["id"]), str(org["name"]), owner)


def readonly_member(https: httpx.Client, school: School) -> User:
    return add_member(https, school.owner, school.org_id, "readonly")


def enroll_devices(
    https: httpx.Client, school: School, count: int, *, names: list[str] | None = None
) -> list[Enrollment]:
    """`count` devices enrolled with one fresh token (hostnames from `names` if given)."""
    token = enrollment_token(https, school.owner, school.org_id, max_uses=max(count, 1))
    hostnames = names or [f"pc-{secrets.token_hex(4)}" for _ in range(count)]
    return [enroll(https, token, hostname) for hostname in hostnames]


def enroll_one(https: httpx.Client, school: School, hostname: str | None = None) -> Enrollment:
    return enroll(https, enrollment_token(https, school.owner, school.org_id), hostname)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json() if response.content else None


def get_device(https: httpx.Client, school: School, device_id: str) -> dict[str, Any]:
    body: dict[str, Any] = ok(https.get(school.device_url(device_id), headers=school.owner.headers))
    return body


def device_ids(items: list[dict[str, Any]]) -> list[str]:
    return [str(item["id"]) for item in items]


def list_page(
    https: httpx.Client, user: User, school: School, **params: str | int
) -> dict[str, Any]:
    body: dict[str, Any] = ok(https.get(school.url("devices"), params=params, headers=user.headers))
    return body


def list_all(
    https: httpx.Client, user: User, school: School, **params: str | int
) -> list[dict[str, Any]]:
    """Every device matching `params`, following `next_cursor` until the last page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        page = list_page(
            https, user, school, **params, **({"cursor": cursor} if cursor is not None else {})
        )
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination never ended")


def agent_config(https: httpx.Client, token: str) -> httpx.Response:
    return https.get(AGENT_CONFIG, headers={"Authorization": f"Bearer {token}"})


def wait_for(check: Callable[[], T | None], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def wait_for_presence(
    https: httpx.Client, school: School, device_id: str, online: bool, timeout: float = 10.0
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        device = get_device(https, school, device_id)
        return device if device["online"] is online else None

    return wait_for(check, timeout, f"device {device_id} online={online}")


@asynccontextmanager
async def database(settings: Settings, role: Role = "owner") -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the control database, closed on exit."""
    conn = await connect(pg_target(settings, role))
    try:
        yield conn
    finally:
        await conn.close()


def try_enroll(https: httpx.Client, token: str, hostname: str = "pc") -> httpx.Response:
    return https.post(AGENT_ENROLL, json={"token": token, "hostname": hostname})


def enrollment_tokens(https: httpx.Client, school: School) -> dict[str, dict[str, Any]]:
    """id → listed enrollment token."""
    listed = ok(https.get(school.url("enrollment-tokens"), headers=school.owner.headers))
    return {str(t["id"]): t for t in listed}


def create_token(https: httpx.Client, school: School, **fields: Any) -> dict[str, Any]:
    body = {"label": f"lab {secrets.token_hex(3)}", **fields}
    created: dict[str, Any] = ok(
        https.post(school.url("enrollment-tokens"), json=body, headers=school.owner.headers), 201
    )
    return created


def cut(https: httpx.Client, school: School, action: str, device_id: str) -> httpx.Response:
    """`revoke`, `decommission` or `delete` a device as the school's owner."""
    if action == "delete":
        return https.delete(school.device_url(device_id), headers=school.owner.headers)
    return https.post(school.device_url(device_id, action), headers=school.owner.headers)
