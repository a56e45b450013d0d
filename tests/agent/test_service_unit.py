"""The agent's systemd unit: `systemd-analyze verify` accepts it (ExecStart pointed at this
virtualenv's `sentinel-agent`) without a single complaint, it restarts the agent on any exit
except code 3 (token revoked — restarting would only hammer the server), and the state
directory it gives the agent is the one the agent uses by default, owner-only."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sentinel_agent.runtime import EXIT_RESTART, EXIT_REVOKED
from sentinel_agent.state import default_home

UNIT = Path(__file__).resolve().parents[2] / "agent" / "service" / "sentinel-agent.service"
AGENT_BIN = Path(sys.executable).with_name("sentinel-agent")


def unit_with_exec_start(tmp_path: Path, exec_start: str) -> Path:
    lines = [
        f"ExecStart={exec_start}" if line.startswith("ExecStart=") else line
        for line in UNIT.read_text().splitlines()
    ]
    copy = tmp_path / UNIT.name
    copy.write_text("\n".join(lines) + "\n")
    return copy


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    return subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )


def parsed() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_systemd_analyze_verify_passes(tmp_path: Path) -> None:
    assert AGENT_BIN.exists()
    unit = unit_with_exec_start(tmp_path, f"{AGENT_BIN} run")
    done = verify(unit)
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 0, output
    assert output == "", output


def test_verify_would_notice_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a missing binary and a bad value are reported."""
    unit = unit_with_exec_start(tmp_path, "/nonexistent/sentinel-agent run")
    unit.write_text(unit.read_text().replace("RestartSec=5", "RestartSec=soon"))
    done = verify(unit)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "/nonexistent/sentinel-agent" in output
    assert "soon" in output


def test_restart_policy_and_state_directory() -> None:
    service = parsed()["Service"]
    assert service["ExecStart"].split()[1:] == ["run"]
    assert service["Restart"] == "always"
    prevented = service["RestartPreventExitStatus"].split()
    assert prevented == [str(EXIT_REVOKED)] == ["3"]
    assert str(EXIT_RESTART) not in prevented  # `restart_agent` relies on being restarted
    assert service["Environment"] == "SENTINEL_AGENT_HOME=/var/lib/sentinel-agent"
    assert service["StateDirectory"] == "sentinel-agent"
    assert service["StateDirectoryMode"] == "0700"
    assert service["UMask"] == "0077"


def test_default_home_is_where_the_unit_puts_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTINEL_AGENT_HOME", raising=False)
    if not sys.platform.startswith("linux"):
        pytest.skip("the systemd unit is for Linux")
    assert default_home() == Path("/var/lib/sentinel-agent")
    monkeypatch.setenv("SENTINEL_AGENT_HOME", "/srv/elsewhere")
    assert default_home() == Path("/srv/elsewhere")
