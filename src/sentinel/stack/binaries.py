"""Finding the service binaries, including PostgreSQL's, which Debian keeps off PATH."""

from __future__ import annotations

import glob
import shutil
from pathlib import Path

PACKAGE_OF = {
    "postgres": "postgresql",
    "initdb": "postgresql",
    "redis-server": "redis-server",
    "mosquitto": "mosquitto",
    "caddy": "caddy",
}


class MissingBinaryError(RuntimeError):
    pass


def _postgres_dirs() -> list[str]:
    found = glob.glob("/usr/lib/postgresql/*/bin") + glob.glob("/usr/pgsql-*/bin")
    return sorted(
        found,
        key=lambda p: [int(x) for x in Path(p).parent.name.split(".") if x.isdigit()] or [0],
        reverse=True,
    )


def find_binary(name: str) -> str:
    """Absolute path of `name`; PostgreSQL binaries are looked up in the newest server dir first."""
    if name in ("postgres", "initdb", "pg_ctl"):
        for directory in _postgres_dirs():
            candidate = Path(directory) / name
            if candidate.exists():
                return str(candidate)
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")
    if path is None:
        package = PACKAGE_OF.get(name, name)
        raise MissingBinaryError(
            f"{name} not found; run scripts/setup (or apt-get install {package})"
        )
    return path
