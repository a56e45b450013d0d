"""Remote commands end to end against a running real agent:

- created through the API (admin), dispatched by the worker over MQTT, run by the agent and
  recorded by ingest: ping, show_message and refresh_inventory finish `done` with their output;
- the server refuses what is not allowed (422 `command_not_allowed`): reboot/shutdown without the
  organization's setting, unknown names, bad arguments; read-only members may not send any;
- a device that is offline gets its queued command when it comes back; one that stays away
  past `expires_in_s` sees the command expire;
- commands published straight onto the device's topic (service credential) that are malformed or
  unknown are answered `rejected` and run nothing, and the agent keeps working;
- the same command id delivered twice runs once; the second answer is the recorded one.

No test here ever lets a real agent receive an allowed reboot or shutdown: the organization
with the running agent keeps both disabled.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sentinel_agent.runtime import EXIT_RESTART

from sentinel.config import Settings
from sentinel.stack.launcher import Stack
from tests.agent.support import (
    AgentOrg,
    AgentProcess,
    agent_installation,
    agent_org,
    get_device,
    wait_flowing,
    wait_for,
)
from tests.commands.support import (
    ServiceMqtt,
    command_row,
    create_command,
    list_commands,
    wait_final,
)
from tests.fleet import enroll
from tests.harness import trust
from tests.people import add_member


@dataclass(frozen=True)
class RunningAgent:
    org: AgentOrg
    agent: AgentProcess
    device_id: str

    @property
    def prefix(self) -> str:
        return f"sentinel/{self.org.org_id}/devices/{self.device_id}"


@pytest.fixture(scope="module")
def running(
    stack: Stack, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningAgent]:
    with httpx.Client(base_url=settings.public_url, verify=trust(settings), timeout=10) as https:
        org = agent_org(https)
        assert (
            https.get(org.path("/agent-settings"), headers=org.owner.headers).json()["allow_reboot"]
            is False
        )
        with agent_installation(settings, tmp_path_factory.mktemp("commands")) as agent:
            device_id = agent.enroll(org.enrollment_token)
            agent.start()
            wait_flowing(agent)
            wait_for(lambda: get_device(https, org, device_id)["online"], 20, what="device online")
            yield RunningAgent(org, agent, device_id)
            assert "Traceback" not in agent.log(), agent.log()


@pytest.fixture
def service(stack: Stack, running: RunningAgent) -> Iterator[ServiceMqtt]:
    client = ServiceMqtt(stack, running.prefix)
    try:
        yield client
    finally:
        client.close()


def inventory_at(https: httpx.Client, running: RunningAgent) -> str | None:
    value: str | None = get_device(https, running.org, running.device_id)["inventory_at"]
    return value


def run_via_api(
    https: httpx.Client, running: RunningAgent, name: str, **body: Any
) -> dict[str, Any]:
    created = create_command(https, running.org, running.device_id, name, **body)
    assert created.status_code == 201, created.text
    row = created.json()
    assert row["status"] == "queued"
    assert row["name"] == name
    return wait_final(https, running.org, running.device_id, row["id"])


def test_allowed_commands_run_on_the_agent(https: httpx.Client, running: RunningAgent) -> None:
    pinged = run_via_api(https, running, "ping")
    assert pinged["status"] == "done", pinged
    assert pinged["output"].startswith("pong ")
    assert pinged["sent_at"] is not None and pinged["finished_at"] is not None

    shown = run_via_api(https, running, "show_message", args={"text": "Sentinel test message"})
    assert shown["status"] == "done", shown
    assert shown["output"]

    wait_for(lambda: inventory_at(https, running), 20, what="the first inventory")
    before = inventory_at(https, running)
    time.sleep(1.1)
    refreshed = run_via_api(https, running, "refresh_inventory")
    assert refreshed["status"] == "done", refreshed
    assert refreshed["output"] == "inventory refresh scheduled"
    wait_for(lambda: inventory_at(https, running) != before, 15, what="the refreshed inventory")


def test_power_commands_need_the_organization_setting(
    settings: Settings, https: httpx.Client, running: RunningAgent
) -> None:
    for name in ("reboot", "shutdown"):
        refused = create_command(https, running.org, running.device_id, name)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "command_not_allowed"
    assert not {c["name"] for c in list_commands(https, running.org, running.device_id)} & {
        "reboot",
        "shutdown",
    }

    # With the setting the API accepts it (a device that is never online, so nothing runs).
    other = agent_org(https, allow_reboot=True)
    parked = enroll(https, other.enrollment_token).device_id
    accepted = create_command(https, other, parked, "reboot")
    assert accepted.status_code == 201, accepted.text
    still_refused = create_command(https, other, parked, "shutdown")
    assert still_refused.status_code == 422, still_refused.text
    time.sleep(2)
    assert command_row(https, other, parked, accepted.json()["id"])["status"] == "queued"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "exec", "args": {"cmd": "id"}}, 422, "command_not_allowed"),
        ({"name": "Ping"}, 422, "command_not_allowed"),
        ({"name": "show_message"}, 422, "command_not_allowed"),
        ({"name": "show_message", "args": {"text": "x" * 501}}, 422, "command_not_allowed"),
        ({"name": "ping", "args": {"pad": "x" * 300_000}}, 422, "command_not_allowed"),
        ({"name": "ping", "args": {"count": 3}}, 422, "command_not_allowed"),
        (
            {"name": "show_message", "args": {"text": "hi", "then": "reboot"}},
            422,
            "command_not_allowed",
        ),
        ({"name": "ping", "expires_in_s": 1}, 422, None),
        ({"name": "ping", "run_as": "root"}, 422, None),
    ],
)
def test_the_api_refuses_what_is_not_allowed(
    https: httpx.Client, running: RunningAgent, body: dict[str, Any], status: int, code: str | None
) -> None:
    before = len(list_commands(https, running.org, running.device_id))
    response = https.post(
        running.org.path(f"/devices/{running.device_id}/commands"),
        json=body,
        headers=running.org.owner.headers,
    )
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["code"] == code
    assert len(list_commands(https, running.org, running.device_id)) == before


def test_why_arguments_are_bounded(stack: Stack, running: RunningAgent) -> None:
    """A command over the broker's packet limit does not reach the device: the broker drops
    the publisher's (the worker's) connection instead, so the API must never accept one."""
    publisher = ServiceMqtt(stack, running.prefix)
    try:
        publisher.client.publish(
            f"{running.prefix}/commands",
            json.dumps({"v": 1, "id": str(uuid.uuid4()), "name": "ping", "x": "y" * 300_000}),
            qos=1,
        )
        wait_for(lambda: publisher.disconnects >= 1, 15, what="the broker to drop the publisher")
    finally:
        publisher.close()


def test_readonly_members_cannot_send_commands(https: httpx.Client, running: RunningAgent) -> None:
    viewer = add_member(https, running.org.owner, running.org.org_id, "readonly")
    response = https.post(
        running.org.path(f"/devices/{running.device_id}/commands"),
        json={"name": "ping"},
        headers=viewer.headers,
    )
    assert response.status_code == 403, response.text
    listed = https.get(
        running.org.path(f"/devices/{running.device_id}/commands"), headers=viewer.headers
    )
    assert listed.status_code == 200, listed.text


def test_malformed_and_unknown_commands_are_rejected_by_the_agent(
    https: httpx.Client, running: RunningAgent, service: ServiceMqtt
) -> None:
    wait_for(lambda: inventory_at(https, running), 20, what="the first inventory")
    before_inventory = inventory_at(https, running)
    before_seq = running.agent.status()["next_seq"]
    unknown_id = str(uuid.uuid4())
    payloads: list[bytes | dict[str, Any]] = [
        b"refresh_inventory",
        b"\xff\xfe{",
        {"v": 2, "id": str(uuid.uuid4()), "name": "refresh_inventory"},
        {"v": 1, "name": "refresh_inventory"},
        {"v": 1, "id": str(uuid.uuid4()), "name": "refresh_inventory", "args": [1]},
        b"[" * 50_000 + b"]" * 50_000,
        {"v": 1, "id": unknown_id, "name": "exec", "args": {"cmd": "touch /tmp/pwned"}},
        {
            "v": 1,
            "id": str(uuid.uuid4()),
            "name": "refresh_inventory",
            "args": {},
            "expires_at": time.time() - 5,
        },
    ]
    for payload in payloads:
        service.send(payload)
    results = service.wait_results(len(payloads))
    assert len(results) == len(payloads)
    assert all(r["status"] == "rejected" for r in results), results
    assert sum(r["output"] == "malformed command" for r in results) == 6
    unknown = [r for r in results if r["id"] == unknown_id]
    assert unknown and "unknown command" in unknown[0]["output"]
    assert any("expired" in r["output"] for r in results)

    # Nothing ran: no inventory was refreshed, and the agent is still healthy and sending.
    assert service.settle(3) == results
    assert inventory_at(https, running) == before_inventory
    wait_flowing(running.agent, minimum_seq=before_seq + 3)
    assert running.agent.alive()


def test_a_redelivered_command_runs_once(
    https: httpx.Client, running: RunningAgent, service: ServiceMqtt
) -> None:
    created = create_command(https, running.org, running.device_id, "ping")
    assert created.status_code == 201, created.text
    first = wait_final(https, running.org, running.device_id, created.json()["id"])
    assert first["status"] == "done"

    # The very same command once more, as a broker redelivery or a second dispatcher would.
    row = created.json()
    seen = len(service.settle(0.5))  # the first answer, if it passed by this subscriber too
    service.send(
        {
            "v": 1,
            "id": row["id"],
            "name": "ping",
            "args": {},
            "expires_at": time.time() + 60,
        }
    )
    replay = service.wait_results(seen + 1)[-1]
    assert replay["id"] == row["id"]
    assert replay["replay"] is True
    assert replay["status"] == "done"
    assert replay["output"] == first["output"]  # the recorded pong, not a new one
    time.sleep(1)
    after = command_row(https, running.org, running.device_id, row["id"])
    assert after["output"] == first["output"] and after["finished_at"] == first["finished_at"]

    # And twice in a row straight onto the topic: one execution, one replay.
    fresh = str(uuid.uuid4())
    message = {"v": 1, "id": fresh, "name": "ping", "args": {}}
    service.send(message)
    service.send(message)
    answers = [r for r in service.wait_results(seen + 3) if r["id"] == fresh]
    assert len(answers) == 2
    assert [a.get("replay", False) for a in answers] == [False, True]
    assert answers[0]["output"] == answers[1]["output"]


def test_offline_device_gets_queued_commands_on_return_and_stale_ones_expire(
    settings: Settings, https: httpx.Client, tmp_path: Path
) -> None:
    org = agent_org(https)
    with agent_installation(settings, tmp_path) as agent:
        device_id = agent.enroll(org.enrollment_token)
        expiring = create_command(https, org, device_id, "ping", expires_in_s=10)
        waiting = create_command(https, org, device_id, "ping", expires_in_s=600)
        assert expiring.status_code == waiting.status_code == 201
        expired = wait_final(https, org, device_id, expiring.json()["id"], timeout=30)
        assert expired["status"] == "expired"
        assert expired["output"] is None
        assert command_row(https, org, device_id, waiting.json()["id"])["status"] == "queued"

        agent.start()
        done = wait_final(https, org, device_id, waiting.json()["id"], timeout=45)
        assert done["status"] == "done", done
        # The expired one never reached the device.
        time.sleep(1)
        assert command_row(https, org, device_id, expiring.json()["id"])["status"] == "expired"
        assert json.dumps(expiring.json()["id"]) not in agent.log()


def test_restart_agent_answers_then_exits_for_the_service_manager(
    settings: Settings, https: httpx.Client, tmp_path: Path
) -> None:
    """`restart_agent` is answered `done` before the agent exits with code 75, which the
    systemd unit (Restart=always) turns into a restart; the restarted agent carries on
    numbering where it stopped."""
    org = agent_org(https)
    with agent_installation(settings, tmp_path) as agent:
        device_id = agent.enroll(org.enrollment_token)
        agent.start()
        wait_flowing(agent)
        wait_for(lambda: get_device(https, org, device_id)["online"], 20, what="device online")
        created = create_command(https, org, device_id, "restart_agent")
        assert created.status_code == 201, created.text
        assert agent.wait(timeout=30) == EXIT_RESTART
        done = wait_final(https, org, device_id, created.json()["id"])
        assert done["status"] == "done" and done["output"] == "restarting"
        before = agent.status()["next_seq"]

        agent.start()  # what systemd does
        wait_flowing(agent, minimum_seq=before + 2)
        assert agent.alive()
        assert command_row(https, org, device_id, created.json()["id"])["status"] == "done"
