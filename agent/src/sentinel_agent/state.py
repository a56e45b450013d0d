"""Where the agent keeps its configuration, credential and spool, per operating system.

Everything is owner-only (0700 directory, 0600 files): the device token in particular.
`SENTINEL_AGENT_HOME` overrides the location (tests, unprivileged runs).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


def default_home() -> Path:
    override = os.environ.get("SENTINEL_AGENT_HOME")
    if override:
        return Path(override)
    if sys.platform == "win32":  # pragma: no cover - Windows only
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "Sentinel Agent"
    if sys.platform == "darwin":  # pragma: no cover - macOS only
        return Path("/Library/Application Support/Sentinel Agent")
    return Path("/var/lib/sentinel-agent")


def write_private(path: Path, text: str) -> None:
    """Atomic write with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600) if hasattr(os, "fchmod") else None
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Enrollment:
    server: str
    org_id: str
    device_id: str
    mqtt_host: str
    mqtt_port: int
    mqtt_username: str
    topic_prefix: str


class AgentHome:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_home()

    @property
    def config_file(self) -> Path:
        return self.path / "agent.json"

    @property
    def token_file(self) -> Path:
        return self.path / "device.token"

    @property
    def ca_file(self) -> Path:
        return self.path / "ca.pem"

    @property
    def spool_file(self) -> Path:
        return self.path / "spool.db"

    @property
    def commands_file(self) -> Path:
        return self.path / "commands.db"

    def prepare(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        if hasattr(os, "chmod"):
            self.path.chmod(0o700)

    def save(self, enrollment: Enrollment, token: str, ca_pem: str) -> None:
        self.prepare()
        write_private(self.ca_file, ca_pem)
        write_private(self.token_file, token)
        write_private(self.config_file, json.dumps(asdict(enrollment), indent=2))

    def enrolled(self) -> bool:
        return self.config_file.exists() and self.token_file.exists()

    def load(self) -> tuple[Enrollment, str]:
        data: dict[str, Any] = json.loads(self.config_file.read_text())
        return Enrollment(**data), self.token_file.read_text().strip()

    def forget(self) -> None:
        for path in (
            self.config_file,
            self.token_file,
            self.ca_file,
            self.spool_file,
            self.commands_file,
        ):
            path.unlink(missing_ok=True)
            for suffix in ("-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
