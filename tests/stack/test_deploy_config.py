"""The production Caddyfile is valid and keeps the local stack's security headers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sentinel.stack.binaries import find_binary
from sentinel.stack.caddy import SECURITY_HEADERS

DEPLOY_CADDYFILE = Path(__file__).parents[2] / "deploy" / "Caddyfile"


def test_production_caddyfile_is_valid() -> None:
    result = subprocess.run(
        [
            find_binary("caddy"),
            "validate",
            "--config",
            str(DEPLOY_CADDYFILE),
            "--adapter",
            "caddyfile",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-500:]


def test_production_caddyfile_has_the_same_headers() -> None:
    text = DEPLOY_CADDYFILE.read_text()
    for line in SECURITY_HEADERS.splitlines():
        if "Strict-Transport-Security" in line:
            continue  # production adds preload and a longer max-age
        assert line.strip() in text
    assert "protocols tls1.2 tls1.3" in text


def test_production_units_pass_systemd_verification(tmp_path: Path) -> None:
    """Every unit in deploy/systemd is valid once its paths point at this installation."""
    sentinel = Path(sys.executable).with_name("sentinel")
    units = sorted((DEPLOY_CADDYFILE.parent / "systemd").glob("*.service"))
    assert {u.name for u in units} >= {
        "sentinel-api@.service",
        "sentinel-ingest@.service",
        "sentinel-worker.service",
    }
    for unit in units:
        text = unit.read_text().replace("/opt/sentinel/.venv/bin/sentinel", str(sentinel))
        text = "\n".join(
            line for line in text.splitlines() if not line.startswith("EnvironmentFile=")
        )
        assert "NoNewPrivileges=yes" in text and "ProtectSystem=strict" in text
        target = tmp_path / unit.name.replace("@.", "@0.")
        target.write_text(text)
        result = subprocess.run(
            ["systemd-analyze", "verify", str(target)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0 and not result.stderr.strip(), result.stderr
