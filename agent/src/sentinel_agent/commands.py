"""Remote commands: a fixed allow-list, each answered on `commands/result`, none run twice.

A command's id is recorded (SQLite) before it runs; a redelivered command gets its recorded
result again instead of running again. Unknown, malformed or expired commands are refused with
a result and never executed. Reboot and shutdown run only when the organization allows them.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_MESSAGE = 500
log = logging.getLogger("sentinel_agent")


@dataclass
class SystemActions:
    """What commands do to the machine; replaceable so tests never reboot the test host."""

    reboot: Callable[[], None]
    shutdown: Callable[[], None]
    show_message: Callable[[str], str]


def _os_reboot() -> None:  # pragma: no cover - would reboot the machine
    command = (
        ["shutdown", "/r", "/t", "60"] if sys.platform == "win32" else ["shutdown", "-r", "+1"]
    )
    subprocess.run(command, check=False, timeout=30)


def _os_shutdown() -> None:  # pragma: no cover - would stop the machine
    command = (
        ["shutdown", "/s", "/t", "60"] if sys.platform == "win32" else ["shutdown", "-h", "+1"]
    )
    subprocess.run(command, check=False, timeout=30)


def _show_message(text: str) -> str:
    notifier = shutil.which("notify-send")
    if notifier:
        subprocess.run([notifier, "Sentinel", text], check=False, timeout=10)
        return "shown with notify-send"
    wall = shutil.which("wall")
    if wall:
        subprocess.run([wall], input=text, text=True, check=False, timeout=10)
        return "broadcast with wall"
    log.info("message for the user of this device: %s", text)
    return "no display method available; message logged"


OS_ACTIONS = SystemActions(_os_reboot, _os_shutdown, _show_message)


class CommandRunner:
    def __init__(self, path: Path | str, actions: SystemActions = OS_ACTIONS) -> None:
        self.actions = actions
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS commands (id TEXT PRIMARY KEY, result TEXT NOT NULL)"
        )

    def handle(
        self,
        payload: bytes,
        policy: dict[str, Any],
        refresh_inventory: Callable[[], None],
        restart_agent: Callable[[], None],
    ) -> dict[str, Any] | None:
        """Run (or refuse) one command; returns the result to publish."""
        try:
            command = json.loads(payload)
            if not isinstance(command, dict) or command.get("v") != 1:
                raise ValueError("not a v1 command")
            command_id = str(command["id"])[:64]
            name = str(command["name"])
            args = command.get("args") or {}
            if not isinstance(args, dict):
                raise TypeError("args must be an object")
        except (ValueError, KeyError, TypeError, RecursionError):
            return {"v": 1, "id": None, "status": "rejected", "output": "malformed command"}
        with self._lock:
            row = self._db.execute(
                "SELECT result FROM commands WHERE id = ?", (command_id,)
            ).fetchone()
            if row is not None:
                return dict(json.loads(row[0]), replay=True)
            # Recorded before it runs: if the agent dies meanwhile, a redelivery is answered
            # with this instead of running the command a second time.
            interrupted = {
                "v": 1,
                "id": command_id,
                "status": "failed",
                "output": "the agent stopped while running this command",
            }
            self._db.execute(
                "INSERT INTO commands (id, result) VALUES (?, ?)",
                (command_id, json.dumps(interrupted)),
            )
            try:
                result = self._run(
                    command_id, name, args, command.get("expires_at"), policy, refresh_inventory
                )
            except Exception as exc:  # an action failed (no `shutdown`, a hung notifier, ...)
                log.warning("command %s (%s) failed: %r", command_id, name[:50], exc)
                output = f"{name[:50]} failed: {exc.__class__.__name__}: {exc}"[:MAX_MESSAGE]
                result = dict(interrupted, output=output)
            self._db.execute(
                "UPDATE commands SET result = ? WHERE id = ?", (json.dumps(result), command_id)
            )
        if name == "restart_agent" and result["status"] == "done":
            restart_agent()
        return result

    def _run(
        self,
        command_id: str,
        name: str,
        args: dict[str, Any],
        expires_at: Any,
        policy: dict[str, Any],
        refresh_inventory: Callable[[], None],
    ) -> dict[str, Any]:
        def result(status: str, output: str) -> dict[str, Any]:
            return {"v": 1, "id": command_id, "status": status, "output": output}

        if isinstance(expires_at, int | float) and expires_at < time.time():
            return result("rejected", "command expired before it arrived")
        if name == "ping":
            return result("done", f"pong {time.time():.3f}")
        if name == "refresh_inventory":
            refresh_inventory()
            return result("done", "inventory refresh scheduled")
        if name == "show_message":
            text = args.get("text")
            if not isinstance(text, str) or not 0 < len(text) <= MAX_MESSAGE:
                return result("rejected", f"text must be 1..{MAX_MESSAGE} characters")
            return result("done", self.actions.show_message(text))
        if name == "restart_agent":
            return result("done", "restarting")
        if name in ("reboot", "shutdown"):
            if not policy.get(f"allow_{name}"):
                return result("rejected", f"{name} is not enabled for this organization")
            (self.actions.reboot if name == "reboot" else self.actions.shutdown)()
            return result("done", f"{name} scheduled in one minute")
        return result("rejected", f"unknown command {name[:50]!r}")

    def close(self) -> None:
        with self._lock:
            self._db.close()
