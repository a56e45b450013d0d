"""Helpers shared by the alert tests: organizations with their default rules switched off,
enrolled devices that publish telemetry with chosen timestamps through the real broker and
ingest, direct access to the alert engine (`run_evaluation` / `dispatch_org` with a controlled
`now` or settings), and real receivers: HTTP webhook servers (answering 2xx or 5xx, optionally
slowly, verifying the `Sentinel-Signature` header) and an aiosmtpd SMTP server.

Nothing of ours is mocked: the tests talk to the stack over HTTPS and MQTTS, and read the
tenant's tables through the application's own tenant router.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import httpx
import redis.asyncio as aioredis
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from sentinel.alerts.engine import run_evaluation
from sentinel.alerts.evaluate import Transitions
from sentinel.alerts.notify import dispatch_org, verify_signature
from sentinel.config import Settings
from sentinel.db.pools import ShardPools
from sentinel.db.tenancy import Tenant, TenantRouter
from sentinel.ingest.receipts import expand
from sentinel.stack.secrets import Secrets
from tests.fleet import DeviceClient, Enrollment, enroll, enrollment_token
from tests.harness import free_ports
from tests.people import User, create_org, signup

T = TypeVar("T")
ALL_STATES = ("open", "acknowledged", "resolved")


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def at(value: str) -> datetime:
    """A timestamp from an API response."""
    return datetime.fromisoformat(value)


# --- organizations, rules, channels through the public API -----------------------------------


@dataclass(frozen=True)
class AlertOrg:
    """A fresh organization whose five default rules are disabled, so only the rules a test
    creates can raise alerts or send notifications."""

    owner: User
    org_id: str
    enrollment_token: str
    default_rules: tuple[dict[str, Any], ...]

    def path(self, suffix: str = "") -> str:
        return f"/api/v1/orgs/{self.org_id}{suffix}"


def checked(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json() if response.content else None


def call(
    https: httpx.Client,
    user: User,
    method: str,
    path: str,
    body: Any = None,
    status: int = 200,
) -> Any:
    """One API request as `user`; asserts the status and returns the JSON body (if any)."""
    response = https.request(method, path, json=body, headers=user.headers)
    return checked(response, status)


def new_org(https: httpx.Client) -> AlertOrg:
    owner = signup(https)
    org_id: str = create_org(https, owner)["id"]
    token = enrollment_token(https, owner, org_id)
    defaults = checked(https.get(f"/api/v1/orgs/{org_id}/alert-rules", headers=owner.headers))
    for rule in defaults:
        checked(
            https.patch(
                f"/api/v1/orgs/{org_id}/alert-rules/{rule['id']}",
                json={"enabled": False},
                headers=owner.headers,
            )
        )
    return AlertOrg(owner, org_id, token, tuple(defaults))


def new_device(https: httpx.Client, org: AlertOrg, hostname: str | None = None) -> Enrollment:
    enrollment = enroll(https, org.enrollment_token, hostname)
    assert enrollment.org_id == org.org_id
    return enrollment


def create_rule(https: httpx.Client, org: AlertOrg, **fields: Any) -> dict[str, Any]:
    body = {"name": f"rule {time.monotonic_ns()}", **fields}
    rule: dict[str, Any] = checked(
        https.post(org.path("/alert-rules"), json=body, headers=org.owner.headers), 201
    )
    return rule


def cpu_rule(
    https: httpx.Client, org: AlertOrg, device: Enrollment, duration_s: int, **fields: Any
) -> dict[str, Any]:
    """`cpu_pct > 90` held for `duration_s`, scoped to one device."""
    return create_rule(
        https,
        org,
        **{
            "kind": "metric_threshold",
            "metric": "cpu_pct",
            "operator": ">",
            "threshold": 90,
            "duration_s": duration_s,
            "scope_type": "device",
            "scope_id": device.device_id,
            **fields,
        },
    )


def create_webhook(
    https: httpx.Client, org: AlertOrg, url: str, name: str = "hook", rate_per_minute: int = 10
) -> tuple[dict[str, Any], str]:
    """A webhook channel and the signing secret the API shows exactly once."""
    body = {"name": name, "kind": "webhook", "config": {"url": url}}
    channel: dict[str, Any] = checked(
        https.post(
            org.path("/notification-channels"),
            json={**body, "rate_per_minute": rate_per_minute},
            headers=org.owner.headers,
        ),
        201,
    )
    secret = channel.pop("signing_secret")
    assert isinstance(secret, str) and secret.startswith("whsec_")
    return channel, secret


def list_alerts(
    https: httpx.Client, org: AlertOrg, *states: str, user: User | None = None, **params: Any
) -> list[dict[str, Any]]:
    query: list[tuple[str, Any]] = [("state", s) for s in states or ALL_STATES]
    query += list(params.items())
    alerts: list[dict[str, Any]] = checked(
        https.get(org.path("/alerts"), params=query, headers=(user or org.owner).headers)
    )
    return alerts


# --- devices publishing telemetry with chosen timestamps --------------------------------------


def publish(
    settings: Settings, enrollment: Enrollment, samples: list[dict[str, Any]], timeout: float = 15
) -> None:
    """Publish one telemetry message over MQTTS and wait until ingest has committed it (its
    receipts name every sample as stored, duplicates included)."""
    device = DeviceClient(settings, enrollment)
    device.connect()
    try:
        device.publish("telemetry", {"v": 1, "samples": samples})
        device.wait_receipts({s["seq"] for s in samples}, timeout)
    finally:
        device.close()


async def apublish(
    settings: Settings, enrollment: Enrollment, samples: list[dict[str, Any]]
) -> None:
    await asyncio.to_thread(publish, settings, enrollment, samples)


class Device:
    """An enrolled device connected over MQTTS for a whole test (connecting costs more than
    publishing). `send` waits for the receipt of exactly that message, so a resent sample (whose
    seq already has a receipt) is also known to be through ingest when it returns."""

    def __init__(self, settings: Settings, enrollment: Enrollment) -> None:
        self.enrollment = enrollment
        self.client = DeviceClient(settings, enrollment)
        self.client.connect()

    def _send(self, samples: list[dict[str, Any]], within: float) -> None:
        seqs = {s["seq"] for s in samples}
        with self.client.lock:
            seen = len(self.client.receipts)
        self.client.publish("telemetry", {"v": 1, "samples": samples})
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with self.client.lock:
                fresh = self.client.receipts[seen:]
            if seqs <= {seq for r in fresh for seq in expand(r["stored"])}:
                return
            time.sleep(0.02)
        raise TimeoutError(f"no receipt for {sorted(seqs)}")

    async def send(self, samples: list[dict[str, Any]], within: float = 15) -> None:
        await asyncio.to_thread(self._send, samples, within)

    def close(self) -> None:
        self.client.close()


@contextmanager
def online(settings: Settings, enrollment: Enrollment) -> Iterator[Device]:
    device = Device(settings, enrollment)
    try:
        yield device
    finally:
        device.close()


def cpu_samples(base: float, *points: tuple[int, float, float]) -> list[dict[str, Any]]:
    """`(seq, seconds after base, cpu_pct)` → samples."""
    return [{"seq": seq, "ts": base + offset, "cpu_pct": cpu} for seq, offset, cpu in points]


def go_offline(settings: Settings, enrollment: Enrollment, last_seen: float) -> None:
    """The device's last sample is at `last_seen`; then it says goodbye (status offline)."""
    device = DeviceClient(settings, enrollment)
    device.connect()
    try:
        device.publish("telemetry", {"v": 1, "samples": [{"seq": 1, "ts": last_seen}]})
        device.wait_receipts({1})
        device.publish("status", {"v": 1, "state": "offline"})
    finally:
        device.close()


# --- the engine, called directly ---------------------------------------------------------------


@dataclass
class Engine:
    """The application's tenant router and Redis client, to run the alert engine in-process with
    an explicit `now` or settings (the stack's worker keeps running too: both are safe to run
    concurrently, which the tests rely on)."""

    settings: Settings
    router: TenantRouter
    cache: aioredis.Redis

    async def tenant(self, org: AlertOrg) -> Tenant:
        pool = await self.router.pools.control()
        shard = await pool.fetchval(
            "SELECT shard FROM control.organizations WHERE id = $1", UUID(org.org_id)
        )
        assert shard is not None
        return Tenant(UUID(org.org_id), shard)

    async def evaluate(self, org: AlertOrg, now: datetime | None = None) -> Transitions:
        return await run_evaluation(self.router, self.cache, await self.tenant(org), now)

    async def dispatch(self, org: AlertOrg, settings: Settings | None = None) -> int:
        return await dispatch_org(settings or self.settings, self.router, await self.tenant(org))

    async def fetch(self, org: AlertOrg, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self.router.transaction(await self.tenant(org)) as conn:
            rows: list[asyncpg.Record] = await conn.fetch(query, *args)
            return rows

    async def execute(self, org: AlertOrg, query: str, *args: Any) -> str:
        async with self.router.transaction(await self.tenant(org)) as conn:
            status: str = await conn.execute(query, *args)
            return status

    async def alerts(self, org: AlertOrg, rule_id: str) -> list[asyncpg.Record]:
        """Every alert row of a rule, hidden `pending` ones included, oldest first."""
        return await self.fetch(
            org,
            """SELECT id, device_id, state, value, since, opened_at, resolved_at, notified
               FROM alerts WHERE rule_id = $1 ORDER BY since, id""",
            UUID(rule_id),
        )

    async def notifications(self, org: AlertOrg, channel_id: str) -> list[asyncpg.Record]:
        return await self.fetch(
            org,
            """SELECT id, kind, alert_id, payload, status, attempts, last_error, next_attempt_at,
                      sent_at, digest_id
               FROM notifications WHERE channel_id = $1 ORDER BY id""",
            UUID(channel_id),
        )


@asynccontextmanager
async def engine_for(settings: Settings, secrets: Secrets) -> AsyncIterator[Engine]:
    pools = ShardPools(settings, "app", max_size=5)
    cache = aioredis.Redis(
        host="127.0.0.1", port=settings.redis_port, password=secrets.redis_password
    )
    try:
        yield Engine(settings, TenantRouter(pools), cache)
    finally:
        await cache.aclose()
        await pools.close()


async def until(
    probe: Callable[[], Awaitable[T | None]], within: float = 15.0, what: str = ""
) -> T:
    """Await `probe` until it returns something truthy; return that."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within:.0f}s waiting for {what or probe}")
        await asyncio.sleep(0.05)


# --- a webhook receiver ------------------------------------------------------------------------


@dataclass
class Hit:
    """One request a receiver got: when it arrived and when it was answered (monotonic clock and
    wall clock), what it carried and whether its signature verified."""

    arrived: float
    wall: float
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: float = 0.0
    answered_wall: float = 0.0

    @property
    def json(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.body)
        return payload


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 in its own thread. Answers `status`; the first requests
    wait `delays[i]` seconds (or until `release` is set) before answering; verifies each
    request's signature once `secret` is known."""

    status: int = 204
    delays: list[float] = field(default_factory=list)
    hold: threading.Event | None = None
    secret: str | None = None
    hits: list[Hit] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.arrivals = threading.Condition(self.lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (timeout) is part of these tests

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified = self.secret is not None and verify_signature(
            self.secret, body, headers.get("sentinel-signature", "")
        )
        hit = Hit(time.monotonic(), time.time(), headers, body, verified)
        with self.lock:
            index = len(self.hits)
            self.hits.append(hit)
            self.arrivals.notify_all()
        if index < len(self.delays):
            self.closing.wait(self.delays[index])
        if self.hold is not None and index == 0:
            self.hold.wait(15)
        status = self.status if self.verify_ok(hit) else 401
        hit.answered, hit.answered_wall = time.monotonic(), time.time()
        try:
            request.send_response(status)
            request.send_header("Content-Length", "0")
            request.end_headers()
        except OSError:
            pass

    def verify_ok(self, hit: Hit) -> bool:
        return self.secret is None or hit.verified

    def count(self) -> int:
        with self.lock:
            return len(self.hits)

    def snapshot(self) -> list[Hit]:
        with self.lock:
            return list(self.hits)

    def wait_hits(self, count: int, timeout: float = 15.0) -> list[Hit]:
        with self.arrivals:
            if not self.arrivals.wait_for(lambda: len(self.hits) >= count, timeout):
                raise TimeoutError(f"receiver got {len(self.hits)} of {count} requests")
            return list(self.hits)

    async def await_hits(self, count: int, within: float = 15.0) -> list[Hit]:
        return await asyncio.to_thread(self.wait_hits, count, within)

    def close(self) -> None:
        self.closing.set()
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@contextmanager
def receiver(**options: Any) -> Iterator[Receiver]:
    server = Receiver(**options)
    try:
        yield server
    finally:
        server.close()


# --- an SMTP server ------------------------------------------------------------------------------


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class _Collect:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.sink.lock:
            self.sink.mails.append(
                Mail(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], message)
            )
        return "250 Message accepted for delivery"


class SmtpSink:
    """aiosmtpd on a free loopback port (its own thread and event loop), keeping every message."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mails: list[Mail] = []
        (self.port,) = free_ports(1)
        self.controller = Controller(_Collect(self), hostname="127.0.0.1", port=self.port)

    def settings(self, base: Settings) -> Settings:
        """`base` pointed at this server, plain SMTP on loopback."""
        return base.model_copy(
            update={"smtp_host": "127.0.0.1", "smtp_port": self.port, "smtp_starttls": False}
        )

    def received(self) -> list[Mail]:
        with self.lock:
            return list(self.mails)


@contextmanager
def smtp_server() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.controller.start()
    try:
        yield sink
    finally:
        sink.controller.stop()
