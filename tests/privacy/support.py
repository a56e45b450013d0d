"""Helpers for the privacy tests: a school with members and devices, an owner-role database
connection (as an operator would have), independent scans of where data could remain — every
table of a schema, the log files, PostgreSQL's files, Redis, the broker's password file — and
one-shot broker connection attempts."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from sentinel.config import Settings
from sentinel.db.connect import connect, pg_target
from sentinel.db.tenancy import tenant_schema
from sentinel.stack.mosquitto import SERVICE_USERNAME, device_password_file
from tests.fleet import Enrollment, enroll, enrollment_token
from tests.people import User, add_member, create_org, signup

T = TypeVar("T")
PROBLEM_JSON = "application/problem+json"


@dataclass
class School:
    """An organization with an owner, and the admin/readonly members and devices added later."""

    org_id: str
    name: str
    owner: User
    admin: User | None = None
    readonly: User | None = None
    devices: list[Enrollment] = field(default_factory=list)

    @property
    def schema(self) -> str:
        return tenant_schema(UUID(self.org_id))

    def url(self, *parts: str) -> str:
        return "/".join([f"/api/v1/orgs/{self.org_id}", *parts]).rstrip("/")


def new_school(https: httpx.Client, *, members: bool = False, devices: int = 0) -> School:
    owner = signup(https)
    org = create_org(https, owner, f"School {secrets.token_hex(4)}")
    school = School(str(org["id"]), str(org["name"]), owner)
    if members:
        school.admin = add_member(https, owner, school.org_id, "admin")
        school.readonly = add_member(https, owner, school.org_id, "readonly")
    if devices:
        token = enrollment_token(https, owner, school.org_id, max_uses=devices)
        school.devices = [enroll(https, token) for _ in range(devices)]
    return school


def marker(label: str) -> str:
    """A unique string, so a value can be recognised wherever it ends up."""
    return f"{label}-{secrets.token_hex(6)}"


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json() if response.content else None


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    assert response.json()["code"] == code, response.json()


def wait_for(check: Callable[[], T | None], timeout: float = 10.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


async def await_for(
    check: Callable[[], Awaitable[Any]], seconds: float = 10.0, what: str = "condition"
) -> Any:
    """`wait_for` for a coroutine-returning check."""
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {seconds}s waiting for {what}")
        await asyncio.sleep(0.05)


# --- the database, as the owner role ------------------------------------------------------------


@asynccontextmanager
async def owner_db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(pg_target(settings, "owner"))
    try:
        yield conn
    finally:
        await conn.close()


async def tables(conn: asyncpg.Connection, schema: str) -> list[str]:
    """Every table of `schema` (a partitioned table once, not each partition)."""
    rows = await conn.fetch(
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
           ORDER BY c.relname""",
        schema,
    )
    return [r["relname"] for r in rows]


async def rows_mentioning(
    conn: asyncpg.Connection, schema: str, needles: list[str], skip: tuple[str, ...] = ()
) -> dict[str, int]:
    """table → how many rows mention any of `needles` in any column (each row is cast to text
    whole, so text, jsonb, arrays and inet columns are all covered)."""
    found: dict[str, int] = {}
    for table in await tables(conn, schema):
        if table in skip:
            continue
        count = await conn.fetchval(
            f'SELECT count(*) FROM "{schema}"."{table}" AS t '
            "WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS n WHERE strpos(t::text, n) > 0)",
            needles,
        )
        if count:
            found[table] = int(count)
    return found


# --- files --------------------------------------------------------------------------------------


def files_containing(root: Path, needles: list[str]) -> dict[str, list[str]]:
    """file (relative to `root`) → which of `needles` it contains, for every regular file."""
    encoded = [(n, n.encode()) for n in needles]
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        try:
            if not path.is_file():
                continue
            data = path.read_bytes()
        except (PermissionError, FileNotFoundError):
            continue  # a file that vanished while we walked (rotating WAL, temp files)
        hits = [text for text, raw in encoded if raw in data]
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


def paths_named(root: Path, needles: list[str]) -> list[str]:
    return [str(p) for p in root.rglob("*") if any(n in str(p) for n in needles)]


def password_file_users(settings: Settings) -> set[str]:
    text = device_password_file(settings).read_text()
    return {line.split(":", 1)[0] for line in text.splitlines() if line}


# --- the broker ---------------------------------------------------------------------------------


def connack(settings: Settings, enrollment: Enrollment, timeout: float = 5.0) -> ReasonCode:
    """One connection attempt with the device's credential; the broker's CONNACK reason code."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=enrollment.username,
        protocol=mqtt.MQTTv311,
        reconnect_on_failure=False,
    )
    client.username_pw_set(enrollment.username, enrollment.token)
    client.tls_set(ca_certs=str(settings.ca_cert_path))
    outcome: list[ReasonCode] = []
    client.on_connect = lambda _c, _u, _f, rc, _p: outcome.append(rc)
    try:
        client.connect("localhost", settings.mqtts_port, keepalive=10)
        deadline = time.monotonic() + timeout
        while not outcome and time.monotonic() < deadline:
            client.loop(timeout=0.05)
    finally:
        client.disconnect()
    assert outcome, "no CONNACK from the broker"
    return outcome[0]


def wait_accepted(settings: Settings, enrollment: Enrollment, timeout: float = 10.0) -> None:
    """Until the broker has loaded the fresh credential (paho itself backs off a whole second)."""
    wait_for(
        lambda: not connack(settings, enrollment).is_failure,
        timeout,
        f"the broker to accept {enrollment.username}",
    )


def retained_topics(
    settings: Settings, service_password: str, topic_filter: str, settle: float = 1.0
) -> list[str]:
    """Topics under `topic_filter` holding a retained message, as Sentinel's own credential on
    the loopback listener sees them (the broker sends retained messages right after SUBACK)."""
    found: list[str] = []
    subscribed = threading.Event()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"privacy-probe-{secrets.token_hex(4)}",
        protocol=mqtt.MQTTv311,
    )
    client.username_pw_set(SERVICE_USERNAME, service_password)
    client.on_connect = lambda c, _u, _f, rc, _p: (
        None if rc.is_failure else c.subscribe(topic_filter, 1)
    )
    client.on_subscribe = lambda *_: subscribed.set()

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        if message.retain:
            found.append(message.topic)

    client.on_message = on_message
    client.connect("127.0.0.1", settings.mqtt_internal_port, keepalive=10)
    client.loop_start()
    try:
        assert subscribed.wait(5), "the probe could not subscribe"
        time.sleep(settle)
    finally:
        client.disconnect()
        client.loop_stop()
    return sorted(found)
