"""Starting and stopping the whole stack in dependency order.

Used by `sentinel up` (foreground or detached) and by the test harness, so both run the same code.
The launcher records what it started in `run/stack.json` for `sentinel status` and `sentinel down`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from sentinel.config import Settings
from sentinel.logging import get_logger
from sentinel.stack.binaries import MissingBinaryError
from sentinel.stack.caddy import Caddy
from sentinel.stack.component import Component, StackError, port_free
from sentinel.stack.mosquitto import Mosquitto
from sentinel.stack.postgres import Postgres
from sentinel.stack.redis import Redis
from sentinel.stack.secrets import ensure_secrets
from sentinel.stack.sentinel_processes import Api, Ingest, Worker
from sentinel.stack.tls import ensure_tls

log = get_logger(__name__)


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    address: str
    pid: int | None
    healthy: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "pid": self.pid,
            "healthy": self.healthy,
            "detail": self.detail,
        }


class Stack:
    """The local stack for one data directory."""

    def __init__(self, settings: Settings, echo: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.echo = echo
        self.postgres = Postgres(settings)
        self.shards = [Postgres(settings, shard) for shard in settings.extra_shards]
        self.redis = Redis(settings)
        self.mosquitto = Mosquitto(settings)
        self.apis = [Api(settings, i) for i in range(settings.api_processes)]
        self.api = self.apis[0]
        self.worker = Worker(settings)
        self.ingest = [Ingest(settings, i) for i in range(settings.ingest_processes)]
        self.caddy = Caddy(settings)
        self.components: list[Component] = [
            *self.shards,
            self.postgres,
            self.redis,
            self.mosquitto,
            *self.apis,
            self.worker,
            *self.ingest,
            self.caddy,
        ]

    @property
    def state_file(self) -> Path:
        return self.settings.run_dir / "stack.json"

    def _check_ports(self) -> None:
        for component in self.components:
            for listen in component.listens:
                if not port_free(listen):
                    raise StackError(
                        f"port {listen.port} ({component.name}) is already in use; "
                        "stop what holds it or choose another port with SENTINEL_*_PORT"
                    )

    def check_binaries(self) -> None:
        """Resolve every executable first, so a missing one fails before anything starts."""
        for component in self.components:
            component.command()

    def prepare(self) -> None:
        root = self.settings.root
        root.mkdir(parents=True, exist_ok=True)
        for sub in (self.settings.logs_dir, self.settings.run_dir):
            sub.mkdir(parents=True, exist_ok=True)
        ensure_secrets(self.settings.secrets_dir)
        hosts = list(dict.fromkeys([self.settings.public_host, "localhost", "127.0.0.1"]))
        ensure_tls(self.settings.tls_dir, hosts)

    def start(self) -> None:
        """Start every component in order and wait for each to be ready; all or nothing."""
        try:
            self.check_binaries()
            self._check_ports()
            self.prepare()
            for component in self.components:
                component.prepare()
                component.spawn(self.echo)
                component.wait_ready()
                component.after_ready()
                log.info("component ready", component=component.name, address=component.address)
        except MissingBinaryError as exc:
            self.stop()
            raise StackError(str(exc)) from exc
        except LookupError as exc:
            self.stop()
            raise StackError(str(exc)) from exc
        except BaseException:
            self.stop()
            raise

    def add(self, component: Component) -> None:
        """Start one more supervised process (e.g. the demo's simulator) after the rest."""
        component.prepare()
        component.spawn(self.echo)
        self.components.append(component)
        component.wait_ready()

    def write_state(self, supervisor_pid: int) -> None:
        state = {
            "supervisor_pid": supervisor_pid,
            "ca_cert": str(self.settings.ca_cert_path),
            "url": self.settings.public_url,
            "components": {
                c.name: {"pid": c.process.pid if c.process else None, "address": c.address}
                for c in self.components
            },
        }
        self.state_file.write_text(json.dumps(state, indent=2))

    def first_failed(self) -> Component | None:
        return next((c for c in self.components if c.process and not c.alive()), None)

    def pids(self) -> list[int]:
        """Every process of the stack, children (forks, workers) included."""
        found: list[int] = []
        for component in self.components:
            if component.process is None or not component.alive():
                continue
            found.append(component.process.pid)
            with contextlib.suppress(psutil.NoSuchProcess):
                found += [p.pid for p in psutil.Process(component.process.pid).children(True)]
        return found

    def stop(self) -> None:
        """Stop in reverse order; every process is gone when this returns."""
        for component in reversed(self.components):
            component.stop()
        self.state_file.unlink(missing_ok=True)

    def status(self) -> list[ComponentStatus]:
        state = read_state(self.state_file)
        pids = {name: info["pid"] for name, info in (state or {}).get("components", {}).items()}
        result = []
        for component in self.components:
            pid = pids.get(component.name)
            try:
                component.probe()
                healthy, detail = True, "ok"
            except Exception as exc:
                healthy, detail = False, str(exc) or exc.__class__.__name__
            if pid is not None and not psutil.pid_exists(pid):
                healthy, detail = False, "process not running"
            result.append(ComponentStatus(component.name, component.address, pid, healthy, detail))
        known = {c.name for c in self.components}
        for name, pid in pids.items():  # processes added at run time (the demo's simulator)
            if name not in known:
                alive = pid is not None and psutil.pid_exists(pid)
                result.append(
                    ComponentStatus(name, "-", pid, alive, "ok" if alive else "process not running")
                )
        return result


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data
