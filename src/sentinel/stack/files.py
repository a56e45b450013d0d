"""Writing files safely: atomic replacement, owner-only modes, hand-over to service users."""

from __future__ import annotations

import os
import pwd
import tempfile
from pathlib import Path
from typing import Any


def write_atomic(
    path: Path, data: bytes | str, mode: int = 0o600, owner: str | None = None
) -> None:
    """Replace `path` atomically (temp file + fsync + rename) with the given mode and owner.

    Readers such as the broker never see a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        if owner is not None:
            give_fd(fd, owner)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def running_as_root() -> bool:
    return os.geteuid() == 0


def service_user(name: str) -> str | None:
    """The system user a service should run as: `name` when we are root, else ourselves (None)."""
    if not running_as_root():
        return None
    try:
        pwd.getpwnam(name)
    except KeyError as exc:
        raise LookupError(
            f"system user {name!r} is missing; install the package that provides it"
        ) from exc
    return name


def run_as(user: str | None) -> dict[str, Any]:
    """`subprocess` arguments that drop to `user` completely: uid, primary group, no root groups."""
    if user is None:
        return {}
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def give_fd(fd: int, owner: str) -> None:
    entry = pwd.getpwnam(owner)
    os.fchown(fd, entry.pw_uid, entry.pw_gid)


def give(path: Path, owner: str | None, recursive: bool = False) -> None:
    """Hand `path` (and, if asked, everything below it) to a service user."""
    if owner is None:
        return
    entry = pwd.getpwnam(owner)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    if recursive and path.is_dir():
        for child in path.rglob("*"):
            os.chown(child, entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def ensure_traversable(path: Path) -> None:
    """Let service users reach a directory: add o+x to it and every ancestor we own."""
    for part in [path, *path.parents]:
        try:
            st = part.stat()
        except FileNotFoundError:
            continue
        if st.st_uid == os.geteuid() and not st.st_mode & 0o001:
            part.chmod(st.st_mode | 0o001)
