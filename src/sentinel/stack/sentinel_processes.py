"""Sentinel's own processes (API, worker), run from this same Python environment."""

from __future__ import annotations

import json
import os
import sys

import httpx
from pydantic import SecretStr

from sentinel.config import Settings
from sentinel.ingest.main import READY_KEY as INGEST_READY_KEY
from sentinel.stack.component import Component, Listen
from sentinel.stack.redis import Redis
from sentinel.worker.heartbeat import HEARTBEAT_KEY


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that hands `settings` to a child process unchanged."""
    env = dict(os.environ)
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, dict | list):
            value = json.dumps(value)
        env[f"SENTINEL_{name.upper()}"] = str(value)
    env["SENTINEL_DATA_DIR"] = str(settings.root)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def api_ports(settings: Settings) -> list[int]:
    """API replica i listens on `api_port + i`; Caddy balances across all of them."""
    return [settings.api_port + i for i in range(settings.api_processes)]


class SentinelProcess(Component):
    """A process of Sentinel itself: nothing to configure on disk, settings via environment."""

    @property
    def listens(self) -> list[Listen]:
        return []

    def prepare(self) -> None:
        pass

    def environment(self) -> dict[str, str]:
        return settings_env(self.settings)


class Api(SentinelProcess):
    """One API replica; any replica can serve any client (state lives in PostgreSQL/Redis)."""

    def __init__(self, settings: Settings, index: int = 0) -> None:
        super().__init__(settings)
        self.index = index
        self.port = settings.api_port + index
        self.name = "api" if index == 0 else f"api-{index}"

    @property
    def listens(self) -> list[Listen]:
        return [Listen("127.0.0.1", self.port)]

    def command(self) -> list[str]:
        return [sys.executable, "-m", "sentinel", "serve-api", "--port", str(self.port)]

    def probe(self) -> None:
        response = httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2)
        response.raise_for_status()


class Ingest(SentinelProcess):
    """One ingest process; several share the load through the broker's shared subscription."""

    def __init__(self, settings: Settings, index: int = 0) -> None:
        super().__init__(settings)
        self.index = index
        self.name = f"ingest-{index}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "sentinel", "serve-ingest", "--index", str(self.index)]

    def probe(self) -> None:
        with Redis(self.settings).client() as client:
            ready = client.get(INGEST_READY_KEY.format(self.index))
        if ready is None:
            raise RuntimeError("ingest not connected to the broker")
        # The key holds the pid: a killed process's key must not count for its successor.
        if self.process is not None and ready.decode() != str(self.process.pid):
            raise RuntimeError("readiness is from another ingest process")


class Simulator(SentinelProcess):
    """The demo's simulated fleet, supervised like every other process."""

    name = "simulator"

    def __init__(self, settings: Settings, org_id: str, devices: int, interval: float) -> None:
        super().__init__(settings)
        self.org_id, self.devices, self.interval = org_id, devices, interval

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "sentinel",
            "simulate",
            "--org",
            self.org_id,
            "--devices",
            str(self.devices),
            "--interval",
            str(self.interval),
        ]

    def probe(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError("simulator exited")


class Worker(SentinelProcess):
    name = "worker"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "sentinel", "serve-worker"]

    def probe(self) -> None:
        with Redis(self.settings).client() as client:
            beat = client.get(HEARTBEAT_KEY)
        if beat is None:
            raise RuntimeError("no worker heartbeat")
        if self.process is not None and int(beat) != self.process.pid:
            raise RuntimeError("heartbeat is from another worker process")
