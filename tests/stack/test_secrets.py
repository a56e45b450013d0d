"""Generated secrets: owner-only files, and never written to any log."""

from __future__ import annotations

import stat

import pytest

from sentinel.stack.launcher import Stack
from sentinel.stack.secrets import Secrets


def test_secret_files_are_owner_only(stack: Stack) -> None:
    files = list(stack.settings.secrets_dir.iterdir())
    assert len(files) >= 6
    for path in [
        *files,
        stack.settings.tls_dir / "ca.key",
        stack.settings.tls_dir / "server.key",
        stack.redis.home / "redis.conf",
    ]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(stack.settings.secrets_dir.stat().st_mode) == 0o700


@pytest.mark.last
def test_no_secret_value_in_any_log(stack: Stack, secrets: Secrets) -> None:
    logs = [p for p in stack.settings.logs_dir.rglob("*") if p.is_file()]
    assert {p.stem for p in logs} >= {"postgres", "redis", "mosquitto", "api", "worker", "caddy"}
    values = secrets.values() + [
        line for line in secrets.jwt_signing_key_pem.splitlines() if len(line) > 20
    ]
    for path in logs:
        text = path.read_text(errors="replace")
        for value in values:
            assert value not in text, f"a secret appears in {path.name}"
