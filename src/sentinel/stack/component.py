"""What every supervised process of the stack shares: spawn, log pumping, readiness, stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sentinel.config import Settings
from sentinel.logging import REDACTED, mask_secrets
from sentinel.stack.files import run_as


class StackError(RuntimeError):
    """A one-line, user-facing reason why the stack cannot start."""


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def port_free(listen: Listen) -> bool:
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((listen.host, listen.port))
        except OSError:
            return False
    return True


class Component(ABC):
    """One process of the stack. Subclasses say how to configure, run and probe it."""

    name: str
    user: str | None = None
    ready_timeout: float = 30.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self._pump: threading.Thread | None = None

    @property
    @abstractmethod
    def listens(self) -> list[Listen]:
        """Addresses this component binds (checked free before start)."""

    @property
    def address(self) -> str:
        return ", ".join(map(str, self.listens)) or "-"

    @abstractmethod
    def prepare(self) -> None:
        """Write configuration files; idempotent."""

    @abstractmethod
    def command(self) -> list[str]: ...

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def cwd(self) -> Path:
        return self.settings.root

    @abstractmethod
    def probe(self) -> None:
        """Raise if the component is not serving."""

    def after_ready(self) -> None:
        """Hook run once the component answers (e.g. database bootstrap)."""
        return

    @property
    def log_path(self) -> Path:
        return self.settings.logs_dir / f"{self.name}.log"

    def spawn(self, echo: Callable[[str], None] | None) -> None:
        self.settings.logs_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.cwd(),
            env=self.environment(),
            **run_as(self.user),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        self._pump = threading.Thread(
            target=_pump_output,
            args=(self.process.stdout, self.log_path, self.name, echo),
            name=f"log-{self.name}",
            daemon=True,
        )
        self._pump.start()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last_error = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise StackError(
                    f"{self.name} exited with code {self.process.returncode} during start; "
                    f"see {self.log_path}"
                )
            try:
                self.probe()
                return
            except Exception as exc:
                last_error = str(exc) or exc.__class__.__name__
            time.sleep(0.2)
        raise StackError(f"{self.name} not ready after {self.ready_timeout:.0f}s: {last_error}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(5)
        if self._pump is not None:
            self._pump.join(timeout=5)

    def _signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        # The component leads its own process group: children (workers, forks) get it too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)


def _pump_output(
    stream: IO[bytes], log_path: Path, name: str, echo: Callable[[str], None] | None
) -> None:
    with log_path.open("ab") as log:
        for raw in iter(stream.readline, b""):
            line = mask_secrets(raw.decode(errors="replace").rstrip("\n"))
            log.write((line + "\n").encode())
            log.flush()
            if echo is not None:
                echo(f"{name:>9} | {line}")
    stream.close()


__all__ = ["REDACTED", "Component", "Listen", "StackError", "port_free"]
