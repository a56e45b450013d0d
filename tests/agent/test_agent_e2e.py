"""The real agent end to end: `sentinel-agent enroll` joins an organization over HTTPS (trusting
only the stack's CA), `run` streams this machine's real psutil metrics over MQTTS, and they come
back through the telemetry API; the inventory it reports names this host and its OS;
`status` prints JSON; the state directory is 0700 and the credential files 0600.
"""

from __future__ import annotations

import platform
import socket
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

from sentinel.config import Settings
from sentinel.stack.launcher import Stack
from tests.agent.support import (
    agent_installation,
    agent_org,
    get_device,
    stored_seqs,
    wait_flowing,
    wait_for,
)


def os_release_name() -> str:
    try:
        lines = Path("/etc/os-release").read_text().splitlines()
    except OSError:
        return platform.uname().system
    info = dict(line.split("=", 1) for line in lines if "=" in line)
    return info.get("NAME", platform.uname().system).strip('"')


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_agent_enrolls_and_streams_real_metrics(
    stack: Stack, settings: Settings, https: httpx.Client, tmp_path: Path
) -> None:
    org = agent_org(https)
    with agent_installation(settings, tmp_path) as agent:
        device_id = agent.enroll(org.enrollment_token, hostname="enrolled-as-this")

        # Owner-only state: the directory and every file holding the credential or config.
        assert mode(agent.home) == 0o700
        for name in ("device.token", "agent.json", "ca.pem"):
            assert mode(agent.home / name) == 0o600, name
        token = (agent.home / "device.token").read_text().strip()
        assert token and token not in (agent.home / "agent.json").read_text()

        status = agent.status()
        assert status == {
            "server": settings.public_url,
            "org_id": org.org_id,
            "device_id": device_id,
            "spooled": 0,
            "next_seq": 0,
        }

        agent.start()
        flowing = wait_flowing(agent, minimum_seq=4)
        assert flowing["spooled"] == 0

        # Inventory replaced the enrollment hostname with the real one and named the OS.
        def inventoried() -> dict[str, Any] | None:
            device = get_device(https, org, device_id)
            return device if device.get("os_name") else None

        device = wait_for(inventoried, 20, what="the inventory")
        assert device["hostname"] == socket.gethostname()
        assert device["os_name"] == os_release_name()
        assert device["online"] is True

        # Real metrics of this machine, through the public telemetry API.
        now = datetime.now(UTC)
        response = https.get(
            org.path(f"/devices/{device_id}/telemetry"),
            params={
                "from": (now - timedelta(minutes=5)).isoformat(),
                "to": (now + timedelta(minutes=1)).isoformat(),
                "step": 1,
                "metrics": "cpu_pct,mem_pct,load1,swap_pct",
            },
            headers=org.owner.headers,
        )
        assert response.status_code == 200, response.text
        points = response.json()["points"]
        assert len(points) >= 3, points
        assert sum(p["samples"] for p in points) >= 3
        mem_now = psutil.virtual_memory().percent
        for point in points:
            assert 0 <= point["cpu_pct"] <= 100
            assert 0 < point["mem_pct"] <= 100
            assert abs(point["mem_pct"] - mem_now) < 25, (point["mem_pct"], mem_now)
            assert point["load1"] is not None and point["load1"] >= 0

        assert agent.stop() == 0
        stored = stored_seqs(settings, org.org_id, device_id)
        assert len(stored) == len(set(stored)) >= 4
        final = agent.status()
        assert final["next_seq"] >= len(stored)
        assert "Traceback" not in agent.log(), agent.log()
