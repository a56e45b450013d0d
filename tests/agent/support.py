"""Helpers shared by the agent and command tests: an organization whose agents sample every
second, the real `sentinel-agent` run as a subprocess in its own home directory, the broker
stopped and restarted safely, and direct reads of a tenant's telemetry table."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import httpx

from sentinel.config import Settings
from sentinel.db.connect import connect, pg_target
from sentinel.db.tenancy import tenant_schema
from sentinel.ingest.main import READY_KEY
from sentinel.stack.launcher import Stack
from tests.fleet import enrollment_token
from tests.people import User, create_org, signup

T = TypeVar("T")
AGENT_BIN = Path(sys.executable).with_name("sentinel-agent")


def wait_for(
    probe: Callable[[], T | None], timeout: float, interval: float = 0.2, what: str = ""
) -> T:
    """Poll `probe` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what or probe}")
        time.sleep(interval)


@dataclass(frozen=True)
class AgentOrg:
    owner: User
    org_id: str
    enrollment_token: str

    def path(self, suffix: str = "") -> str:
        return f"/api/v1/orgs/{self.org_id}{suffix}"


def agent_org(https: httpx.Client, **agent_settings: Any) -> AgentOrg:
    """A fresh organization whose agents sample every second (plus any other settings)."""
    owner = signup(https)
    org_id: str = create_org(https, owner)["id"]
    changed = https.patch(
        f"/api/v1/orgs/{org_id}/agent-settings",
        json={"telemetry_interval_s": 1, **agent_settings},
        headers=owner.headers,
    )
    assert changed.status_code == 200, changed.text
    return AgentOrg(owner, org_id, enrollment_token(https, owner, org_id))


def get_device(https: httpx.Client, org: AgentOrg, device_id: str) -> dict[str, Any]:
    response = https.get(org.path(f"/devices/{device_id}"), headers=org.owner.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class AgentProcess:
    """One real agent installation: a home directory and, while running, its process."""

    def __init__(self, settings: Settings, home: Path) -> None:
        self.settings = settings
        self.home = home
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self.device_id = ""

    def command(self, *args: str) -> list[str]:
        return [str(AGENT_BIN), "--home", str(self.home), *args]

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), capture_output=True, text=True, timeout=timeout, check=False
        )

    def enroll(self, token: str, hostname: str | None = None) -> str:
        extra = ["--hostname", hostname] if hostname else []
        done = self.cli(
            "enroll",
            "--server",
            self.settings.public_url,
            "--token",
            token,
            "--ca-file",
            str(self.settings.ca_cert_path),
            *extra,
        )
        assert done.returncode == 0, done.stderr
        self.device_id = done.stdout.strip().rsplit(" ", 1)[-1]
        UUID(self.device_id)
        return self.device_id

    def status(self) -> dict[str, Any]:
        done = self.cli("status", timeout=30)
        assert done.returncode == 0, done.stderr
        body: dict[str, Any] = json.loads(done.stdout)
        return body

    @property
    def log_path(self) -> Path:
        return self.home.parent / f"{self.home.name}-run{self.runs}.log"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        self.runs += 1
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command("run"),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait(10)

    def stop(self) -> int:
        """SIGTERM (what systemd sends) and wait for a clean exit."""
        self.signal(signal.SIGTERM)
        return self.wait(20)

    def ensure_stopped(self) -> None:
        if self.alive():
            self.kill()

    def spool_seqs(self) -> list[int]:
        """The seqs still in the spool file (read directly; the agent must not be writing)."""
        db = sqlite3.connect(self.home / "spool.db")
        try:
            return [r[0] for r in db.execute("SELECT seq FROM samples ORDER BY seq")]
        finally:
            db.close()


@contextmanager
def agent_installation(
    settings: Settings, tmp_path: Path, name: str = "agent"
) -> Iterator[AgentProcess]:
    agent = AgentProcess(settings, tmp_path / name)
    try:
        yield agent
    finally:
        agent.ensure_stopped()


def wait_flowing(agent: AgentProcess, minimum_seq: int = 3, timeout: float = 45) -> dict[str, Any]:
    """Wait until the agent has sampled a few times and every sample is receipted."""

    def probe() -> dict[str, Any] | None:
        assert agent.alive(), agent.log()
        status = agent.status()
        return status if status["next_seq"] >= minimum_seq and status["spooled"] == 0 else None

    return wait_for(probe, timeout, interval=0.5, what="the agent's samples to be receipted")


# --- the broker --------------------------------------------------------------------------------


def stop_broker(stack: Stack) -> None:
    stack.mosquitto.stop()


def start_broker(stack: Stack) -> None:
    """Start the broker again and wait until ingest is back on it."""
    stack.mosquitto.spawn(None)
    stack.mosquitto.wait_ready()
    with stack.redis.client() as cache:
        cache.delete(READY_KEY.format(stack.ingest[0].index))
    stack.ingest[0].wait_ready()


@contextmanager
def broker_restored(stack: Stack) -> Iterator[None]:
    """Whatever happens inside, the shared broker and ingest are running afterwards."""
    try:
        yield
    finally:
        if not stack.mosquitto.alive():
            start_broker(stack)
        if not stack.ingest[0].alive():
            stack.ingest[0].spawn(None)
            stack.ingest[0].wait_ready()


# --- the tenant's telemetry ----------------------------------------------------------------------


def telemetry_table(org_id: str) -> str:
    return f"{tenant_schema(UUID(org_id))}.telemetry"


async def _stored_seqs(settings: Settings, org_id: str, device_id: str) -> list[int]:
    conn = await connect(pg_target(settings, "owner"))
    try:
        rows = await conn.fetch(
            f"SELECT seq FROM {telemetry_table(org_id)} WHERE device_id = $1 ORDER BY seq",
            UUID(device_id),
        )
    finally:
        await conn.close()
    return [r["seq"] for r in rows]


def stored_seqs(settings: Settings, org_id: str, device_id: str) -> list[int]:
    """Every stored seq of the device, one entry per row (duplicates would show twice)."""
    return asyncio.run(_stored_seqs(settings, org_id, device_id))


def assert_exactly_once(stored: list[int], produced: int, still_spooled: list[int]) -> None:
    """Seqs 0..produced-1 are all stored once each, except possibly the ones still spooled."""
    assert len(stored) == len(set(stored)), "a sample was stored twice"
    assert set(stored) <= set(range(produced)), "a seq was stored that the agent never made"
    missing = set(range(produced)) - set(stored)
    assert missing <= set(still_spooled), f"lost samples: {sorted(missing)[:20]}"
