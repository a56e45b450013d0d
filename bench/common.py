"""Shared pieces of the benchmarks: a private stack on free ports, timing helpers, results."""

from __future__ import annotations

import json
import socket
import ssl
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from sentinel.config import Settings
from sentinel.logging import configure_logging
from sentinel.stack.launcher import Stack

PORTS = (
    "https_port",
    "http_port",
    "api_port",
    "mqtts_port",
    "mqtt_internal_port",
    "pg_port",
    "redis_port",
)
UNLIMITED = {
    name: "1000000/minute"
    for name in (
        "rate_limit_global",
        "rate_limit_org_create",
        "rate_limit_login_address",
        "rate_limit_login_account",
        "rate_limit_signup",
        "rate_limit_enrollment",
        "rate_limit_billing",
    )
}


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


@contextmanager
def bench_stack(**overrides: Any) -> Iterator[Stack]:
    configure_logging("warning")
    with tempfile.TemporaryDirectory(prefix="sentinel-bench-") as tmp:
        ports = dict(zip(PORTS, free_ports(len(PORTS)), strict=True))
        settings = Settings(data_dir=Path(tmp), **{**ports, **UNLIMITED, **overrides})
        stack = Stack(settings)
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()


def https(settings: Settings) -> httpx.Client:
    return httpx.Client(
        base_url=settings.public_url,
        timeout=60,
        verify=ssl.create_default_context(cafile=str(settings.ca_cert_path)),
    )


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


@dataclass
class CpuMeter:
    """CPU seconds used by given processes (and their children) over a measured interval."""

    pids: dict[str, int]
    start: dict[str, float] = field(default_factory=dict)

    def _cpu(self, pid: int) -> float:
        try:
            proc = psutil.Process(pid)
            total = sum(proc.cpu_times()[:2])
            for child in proc.children(recursive=True):
                with suppress(psutil.NoSuchProcess):
                    total += sum(child.cpu_times()[:2])
            return total
        except psutil.NoSuchProcess:
            return 0.0

    def __enter__(self) -> CpuMeter:
        self.start = {name: self._cpu(pid) for name, pid in self.pids.items()}
        return self

    def __exit__(self, *_: object) -> None:
        self.used = {
            name: round(self._cpu(pid) - self.start[name], 2) for name, pid in self.pids.items()
        }


def timer() -> float:
    return time.perf_counter()


def write_results(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str))
