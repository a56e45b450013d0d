"""The `sentinel` command as a user runs it: up --detach, status --json, down."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import psutil

from tests.harness import PORT_FIELDS, free_ports


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, SENTINEL_DATA_DIR=str(data_dir))
    ports = dict(zip(PORT_FIELDS, free_ports(len(PORT_FIELDS)), strict=True))
    env.update({f"SENTINEL_{name.upper()}": str(port) for name, port in ports.items()})
    env.update(extra)
    return env


def _sentinel(
    env: dict[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sentinel", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_up_detach_status_down_leaves_nothing_running(tmp_path: Path) -> None:
    env = _env(tmp_path / "var")
    started = _sentinel(env, "up", "--detach")
    assert started.returncode == 0, started.stderr
    try:
        report = _sentinel(env, "status", "--json")
        assert report.returncode == 0, report.stdout + report.stderr
        status = json.loads(report.stdout)
        names = [c["name"] for c in status["components"]]
        assert names == ["postgres", "redis", "mosquitto", "api", "worker", "ingest-0", "caddy"]
        assert all(c["healthy"] and c["pid"] for c in status["components"])
        ca = status["ca_cert"]
        pids = [c["pid"] for c in status["components"]]
        pids += [child.pid for pid in pids for child in psutil.Process(pid).children(True)]
        context = ssl.create_default_context(cafile=ca)
        response = httpx.get(f"{status['url']}/readyz", verify=context)
        assert response.json()["status"] == "ready"
    finally:
        stopped = _sentinel(env, "down")
    assert stopped.returncode == 0, stopped.stderr
    assert not [
        pid
        for pid in pids
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert _sentinel(env, "status", "--json").returncode == 1


def test_port_taken_is_one_clear_line(tmp_path: Path) -> None:
    env = _env(tmp_path / "var")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(env["SENTINEL_REDIS_PORT"])))
        squatter.listen()
        result = _sentinel(env, "up")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"port {env['SENTINEL_REDIS_PORT']} (redis) is already in use" in result.stderr
    assert not (tmp_path / "var" / "postgres").exists()


def test_missing_binary_is_one_clear_line(tmp_path: Path) -> None:
    env = _env(tmp_path / "var", PATH=str(tmp_path / "empty-bin"))
    result = _sentinel(env, "up")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "not found; run scripts/setup" in result.stderr
