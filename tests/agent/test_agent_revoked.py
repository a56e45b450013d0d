"""A revoked device's agent stops for good: revoking it through the API cuts its broker session,
the running agent asks the server, learns its token is revoked and exits with code 3 (which the
systemd unit does not restart) with an explanation on stderr; started again, it exits 3 at once
without ever trying the broker."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from sentinel.config import Settings
from sentinel.stack.launcher import Stack
from tests.agent.support import agent_installation, agent_org, wait_flowing

EXIT_REVOKED = 3


def test_revoked_agent_exits_3_and_stays_stopped(
    stack: Stack, settings: Settings, https: httpx.Client, tmp_path: Path
) -> None:
    org = agent_org(https)
    with agent_installation(settings, tmp_path) as agent:
        device_id = agent.enroll(org.enrollment_token)
        agent.start()
        wait_flowing(agent)

        revoked = https.post(org.path(f"/devices/{device_id}/revoke"), headers=org.owner.headers)
        assert revoked.status_code == 204, revoked.text
        started = time.monotonic()
        code = agent.wait(timeout=20)
        took = time.monotonic() - started
        log = agent.log()
        assert code == EXIT_REVOKED, log
        assert took <= 15, f"the agent needed {took:.1f}s to notice"
        assert "revoked" in log
        assert "Traceback" not in log, log
        print(f"\nrevoked agent exited 3 after {took:.1f}s")

        # Started again (as a careless restart would): refuses at once, never touches MQTT.
        started = time.monotonic()
        again = agent.cli("run", timeout=30)
        assert again.returncode == EXIT_REVOKED, again.stderr
        assert time.monotonic() - started < 10
        assert "revoked" in again.stderr
        assert "re-enroll" in again.stderr.lower()
        assert "connected to" not in again.stderr
        assert "broker" not in again.stderr.lower(), again.stderr
        assert "Traceback" not in again.stderr, again.stderr
