"""The agent's `CommandRunner` on a real SQLite file, with recording `SystemActions` so nothing
touches the test host: reboot and shutdown run only when the organization allows them; expired,
unknown and malformed commands are refused and run nothing; a redelivered command id returns the
recorded result (`replay: true`) instead of running again — also after the agent restarts, and
also when the action failed; a failing action is answered `failed` instead of escaping."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sentinel_agent.commands import CommandRunner, SystemActions

ALLOW_ALL = {"allow_reboot": True, "allow_shutdown": True}
ALLOW_NONE = {"allow_reboot": False, "allow_shutdown": False}


@dataclass
class Recorder:
    calls: list[tuple[str, Any]] = field(default_factory=list)
    fail_with: BaseException | None = None

    def _record(self, name: str, arg: Any = None) -> None:
        self.calls.append((name, arg))
        if self.fail_with is not None:
            raise self.fail_with

    def reboot(self) -> None:
        self._record("reboot")

    def shutdown(self) -> None:
        self._record("shutdown")

    def show_message(self, text: str) -> str:
        self._record("show_message", text)
        return "shown by the recorder"

    def actions(self) -> SystemActions:
        return SystemActions(self.reboot, self.shutdown, self.show_message)


@dataclass
class Harness:
    runner: CommandRunner
    recorder: Recorder
    inventory_refreshes: int = 0
    restarts: int = 0

    def handle(
        self, payload: bytes | dict[str, Any], policy: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        result = self.runner.handle(raw, policy or ALLOW_NONE, self._inventory, self._restart)
        assert result is not None
        return result

    def _inventory(self) -> None:
        self.inventory_refreshes += 1

    def _restart(self) -> None:
        self.restarts += 1


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    recorder = Recorder()
    runner = CommandRunner(tmp_path / "commands.db", recorder.actions())
    try:
        yield Harness(runner, recorder)
    finally:
        runner.close()


def command(name: str, **fields: Any) -> dict[str, Any]:
    return {"v": 1, "id": str(uuid.uuid4()), "name": name, "args": {}, **fields}


@pytest.mark.parametrize("name", ["reboot", "shutdown"])
def test_power_commands_run_only_when_allowed(harness: Harness, name: str) -> None:
    denied = harness.handle(command(name), ALLOW_NONE)
    assert denied["status"] == "rejected"
    assert "not enabled" in denied["output"]
    assert harness.recorder.calls == []

    only_other = {"allow_reboot": name != "reboot", "allow_shutdown": name != "shutdown"}
    assert harness.handle(command(name), only_other)["status"] == "rejected"
    assert harness.recorder.calls == []

    allowed = command(name)
    done = harness.handle(allowed, ALLOW_ALL)
    assert done == {"v": 1, "id": allowed["id"], "status": "done", "output": done["output"]}
    assert harness.recorder.calls == [(name, None)]

    # The same command delivered again (QoS 1 redelivery, a resent queue): not run twice.
    replay = harness.handle(allowed, ALLOW_ALL)
    assert replay == {**done, "replay": True}
    assert harness.recorder.calls == [(name, None)]


def test_expired_commands_are_refused(harness: Harness) -> None:
    for name in ("reboot", "show_message", "refresh_inventory", "ping"):
        result = harness.handle(
            command(name, args={"text": "hi"}, expires_at=time.time() - 1), ALLOW_ALL
        )
        assert result["status"] == "rejected", name
        assert "expired" in result["output"]
    assert harness.recorder.calls == []
    assert harness.inventory_refreshes == 0
    fresh = harness.handle(command("ping", expires_at=time.time() + 60))
    assert fresh["status"] == "done"
    assert fresh["output"].startswith("pong ")


def test_allow_listed_commands(harness: Harness) -> None:
    shown = harness.handle(command("show_message", args={"text": "Lunch is at noon"}))
    assert shown["status"] == "done"
    assert shown["output"] == "shown by the recorder"
    assert harness.recorder.calls == [("show_message", "Lunch is at noon")]

    assert harness.handle(command("refresh_inventory"))["status"] == "done"
    assert harness.inventory_refreshes == 1

    restart = command("restart_agent")
    assert harness.handle(restart)["status"] == "done"
    assert harness.restarts == 1
    assert harness.handle(restart)["replay"] is True
    assert harness.restarts == 1  # a replayed restart does not restart again


@pytest.mark.parametrize("text", [None, "", "x" * 501, 42, ["a"]])
def test_show_message_needs_sane_text(harness: Harness, text: object) -> None:
    result = harness.handle(command("show_message", args={"text": text}))
    assert result["status"] == "rejected"
    assert harness.recorder.calls == []


def test_unknown_commands_are_refused(harness: Harness) -> None:
    for name in ("rm_rf", "exec", "shell", "REBOOT", "reboot "):
        unknown = command(name, args={"cmd": "touch /tmp/pwned"})
        result = harness.handle(unknown, ALLOW_ALL)
        assert result == {
            "v": 1,
            "id": unknown["id"],
            "status": "rejected",
            "output": result["output"],
        }
        assert "unknown command" in result["output"]
    assert harness.recorder.calls == []


MALFORMED: dict[str, bytes] = {
    "not_json": b"reboot now",
    "not_utf8": b"\xff\xfe{",
    "not_an_object": b'["reboot"]',
    "wrong_version": json.dumps({"v": 2, "id": "a", "name": "reboot"}).encode(),
    "no_version": json.dumps({"id": "a", "name": "reboot"}).encode(),
    "no_id": json.dumps({"v": 1, "name": "reboot"}).encode(),
    "no_name": json.dumps({"v": 1, "id": "a"}).encode(),
    "args_not_object": json.dumps({"v": 1, "id": "a", "name": "reboot", "args": [1]}).encode(),
    "deeply_nested": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_commands_are_refused(harness: Harness, case: str) -> None:
    result = harness.handle(MALFORMED[case], ALLOW_ALL)
    assert result["status"] == "rejected"
    assert result["output"] == "malformed command"
    assert harness.recorder.calls == []
    assert harness.restarts == harness.inventory_refreshes == 0


def test_dedupe_survives_a_restart(tmp_path: Path) -> None:
    recorder = Recorder()
    first = CommandRunner(tmp_path / "commands.db", recorder.actions())
    reboot = json.dumps(command("reboot")).encode()
    try:
        done = first.handle(reboot, ALLOW_ALL, lambda: None, lambda: None)
    finally:
        first.close()
    second = CommandRunner(tmp_path / "commands.db", recorder.actions())
    try:
        again = second.handle(reboot, ALLOW_ALL, lambda: None, lambda: None)
    finally:
        second.close()
    assert done is not None and again == {**done, "replay": True}
    assert recorder.calls == [("reboot", None)]


@pytest.mark.parametrize(
    "error", [FileNotFoundError("shutdown"), TimeoutError("wall"), RuntimeError("boom")]
)
def test_a_failing_action_is_answered_failed_and_not_retried(
    harness: Harness, error: BaseException
) -> None:
    harness.recorder.fail_with = error
    reboot = command("reboot")
    failed = harness.handle(reboot, ALLOW_ALL)
    assert failed["status"] == "failed", failed
    assert failed["id"] == reboot["id"]
    assert error.__class__.__name__ in failed["output"]
    assert harness.handle(reboot, ALLOW_ALL) == {**failed, "replay": True}
    assert harness.recorder.calls == [("reboot", None)]


def test_a_command_interrupted_by_the_agent_dying_is_not_run_again(tmp_path: Path) -> None:
    """The id is recorded before the action runs: if the agent dies inside it (a reboot does
    exactly that), the redelivered command is answered, not run a second time."""
    recorder = Recorder(fail_with=SystemExit(0))
    first = CommandRunner(tmp_path / "commands.db", recorder.actions())
    reboot = json.dumps(command("reboot")).encode()
    try:
        with pytest.raises(SystemExit):
            first.handle(reboot, ALLOW_ALL, lambda: None, lambda: None)
    finally:
        first.close()
    recorder.fail_with = None
    second = CommandRunner(tmp_path / "commands.db", recorder.actions())
    try:
        again = second.handle(reboot, ALLOW_ALL, lambda: None, lambda: None)
    finally:
        second.close()
    assert again is not None
    assert again["status"] == "failed" and again["replay"] is True
    assert recorder.calls == [("reboot", None)]
