"""Bad input never crashes ingest, is never stored and is never silently dropped: every malformed,
mistyped, oversized, misattributed, unauthorised or badly timed message is refused under its
reason in `sentinel:ingest:stats`, samples with impossible timestamps come back in the receipt's
`rejected`, valid messages around the bad ones are stored exactly once, and the ingest log names
the reason without ever echoing the refused payload."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Any

import httpx
import redis

from sentinel.config import Settings
from sentinel.ingest.receipts import expand
from sentinel.stack.launcher import Stack
from sentinel.stack.secrets import Secrets
from tests.fleet import DeviceClient
from tests.ingest.support import (
    connected,
    ingest_stats,
    new_device,
    new_org,
    service_publisher,
    stats_delta,
    stored_rows,
    topic,
    wait_device,
    wait_for,
)


class Markers:
    """Unique strings planted in refused payloads, to prove none of them reaches a log."""

    def __init__(self) -> None:
        self.issued: list[str] = []

    def __call__(self) -> str:
        marker = f"leak{secrets.token_hex(8)}"
        self.issued.append(marker)
        return marker


def telemetry(*samples: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"v": 1, "samples": list(samples), **fields}


def rejected_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in stats_delta(before, after).items() if k.startswith("rejected.")}


def rejected_seqs(device: DeviceClient) -> set[int]:
    with device.lock:
        return {seq for r in device.receipts for seq in expand(r["rejected"])}


def test_bad_input_is_refused_counted_and_harmless(
    https: httpx.Client,
    settings: Settings,
    secrets: Secrets,
    stack: Stack,
    redis_client: redis.Redis,
) -> None:
    org, other = new_org(https), new_org(https)
    good = new_device(https, org)
    revoked = new_device(https, org)
    stranger = new_device(https, other)
    response = https.post(
        org.path(f"/devices/{revoked.device_id}/revoke"), headers=org.owner.headers
    )
    assert response.status_code == 204, response.text
    mark = Markers()
    ingest_pid = stack.ingest[0].process.pid if stack.ingest[0].process else None
    before = ingest_stats(redis_client)
    now = time.time()

    with connected(settings, good) as device, service_publisher(settings, secrets) as service:
        device.send_samples(range(5), cpu_pct=10.0)
        device.wait_receipts(set(range(5)))

        # Refused as a whole, published by the device itself over MQTTS.
        device.publish("telemetry", b'{"v":1,"samples":[{"seq":900,"' + mark().encode())
        device.publish("telemetry", b"\xff\xfe" + mark().encode() + b"\x00")
        device.publish("telemetry", telemetry({"seq": f"x{mark()}", "ts": now}))
        device.publish("telemetry", {"samples": [{"seq": 901, "ts": now, "user_names": [mark()]}]})
        device.publish("telemetry", telemetry({"seq": 902, "ts": now}, **{mark(): 1}))
        device.publish("telemetry", telemetry({"seq": 903, "ts": now, mark(): 1.0}))
        device.publish("telemetry", telemetry())
        device.publish("telemetry", json.dumps([mark()]).encode())
        device.publish("status", {"v": 1, "state": f"asleep-{mark()}"})
        padding = mark() + "x" * (settings.ingest_max_payload_bytes + 1024)
        oversized = telemetry({"seq": 904, "ts": now}, pad=padding)
        assert settings.ingest_max_payload_bytes < len(json.dumps(oversized)) < 250 * 1024
        device.publish("telemetry", oversized)
        device.publish(
            "telemetry",
            telemetry({"seq": 905, "ts": now, "user_names": [mark()]}, org_id=other.org_id),
        )
        device.publish(
            "telemetry",
            telemetry(
                {"seq": 906, "ts": now, "user_names": [mark()]}, device_id=stranger.device_id
            ),
        )

        # What no device could publish: on the revoked device's topic, an unknown device id,
        # another organization's device under this organization, a topic that is no device's.
        valid = telemetry({"seq": 907, "ts": now, "user_names": [mark()]})
        service.publish(topic(org.org_id, revoked.device_id, "telemetry"), valid)
        service.publish(topic(org.org_id, uuid.uuid4(), "telemetry"), valid)
        service.publish(topic(org.org_id, stranger.device_id, "telemetry"), valid)
        service.publish("sentinel/not-an-org/devices/nor-a-device/telemetry", valid)

        # Partly refused: the impossible timestamps come back in the receipt's `rejected`.
        device.publish(
            "telemetry",
            telemetry(
                {"seq": 100, "ts": 1_000_000_000.0, "cpu_pct": 1.0},  # 2001
                {"seq": 101, "ts": now + 86_400, "cpu_pct": 2.0},  # tomorrow
                {"seq": 102, "ts": now, "cpu_pct": 3.0},
            ),
        )
        device.send_samples(range(5, 10), cpu_pct=20.0)
        device.wait_receipts({*range(10), 102})
        wait_for(lambda: rejected_seqs(device) == {100, 101}, what="clock-skew receipt")

        expected = {
            "rejected.malformed_json": 2,
            "rejected.invalid_schema": 7,
            "rejected.too_large": 1,
            "rejected.identity_mismatch": 2,
            "rejected.inactive_device": 1,
            "rejected.unknown_device": 2,
            "rejected.bad_topic": 1,
            "rejected.clock_skew": 2,
        }
        wait_for(
            lambda: rejected_delta(before, ingest_stats(redis_client)) == expected,
            timeout=5,
            what=f"rejection counters {expected}",
        )
        time.sleep(1.5)  # a later flush must not add anything (no double counting)
        assert rejected_delta(before, ingest_stats(redis_client)) == expected
        assert {seq for r in device.receipts for seq in expand(r["stored"])} == {*range(10), 102}

    assert stack.ingest[0].alive()
    assert stack.ingest[0].process is not None and stack.ingest[0].process.pid == ingest_pid

    rows = stored_rows(settings, org.org_id, good.device_id)
    assert [r["seq"] for r in rows] == [*range(10), 102]
    assert {r["cpu_pct"] for r in rows} == {10.0, 20.0, 3.0}
    for device_id in (revoked.device_id, stranger.device_id):
        assert stored_rows(settings, org.org_id, device_id) == []
    assert stored_rows(settings, other.org_id, stranger.device_id) == []

    log = (settings.logs_dir / f"{stack.ingest[0].name}.log").read_text(errors="replace")
    for reason in expected:
        assert f"reason={reason.removeprefix('rejected.')}" in log, reason
    leaked = [m for m in mark.issued if m in log]
    assert not leaked, f"refused payload text in the ingest log: {leaked}"


def test_values_the_database_cannot_store_are_refused_up_front(
    https: httpx.Client, settings: Settings, stack: Stack, redis_client: redis.Redis
) -> None:
    """NUL characters and non-finite numbers pass JSON parsing but not PostgreSQL: they are
    refused as `invalid_schema` before the write, so they never fail (and slow down) a batch,
    and the valid messages published in between are stored."""
    org = new_org(https)
    enrollment = new_device(https, org)
    now = time.time()
    poison: list[tuple[str, dict[str, Any]]] = [
        ("inventory", {"v": 1, "hostname": "pc\u0000"}),
        ("inventory", {"v": 1, "software": [{"name": "app\u0000"}]}),
        ("inventory", {"v": 1, "boot_time": float("nan")}),
        ("inventory", {"v": 1, "disks": [{"mount": "C:\u0000", "total_bytes": 1}]}),
        ("inventory", {"v": 1, "network": [{"name": "eth0", "speed": float("inf")}]}),
        ("telemetry", telemetry({"seq": 50, "ts": now, "disks": {"C:\u0000": 50.0}})),
        ("status", {"v": 1, "state": "online", "agent_version": "1.0\u0000"}),
    ]
    before = ingest_stats(redis_client)
    with connected(settings, enrollment) as device:
        for seq, (kind, payload) in enumerate(poison):
            device.publish("telemetry", telemetry({"seq": seq, "ts": now, "cpu_pct": 1.0}))
            device.publish(kind, payload)
        device.publish("inventory", {"v": 1, "hostname": "clean-host", "boot_time": now - 60})
        device.wait_receipts(set(range(len(poison))))
        expected = {"rejected.invalid_schema": len(poison)}
        wait_for(
            lambda: rejected_delta(before, ingest_stats(redis_client)) == expected,
            timeout=5,
            what=f"rejection counters {expected}",
        )
        assert 50 not in device.stored_seqs()
    body = wait_device(https, org, enrollment.device_id, lambda d: d["hostname"] == "clean-host")
    assert body["inventory"]["boot_time"] == now - 60
    assert [r["seq"] for r in stored_rows(settings, org.org_id, enrollment.device_id)] == list(
        range(len(poison))
    )
    assert stack.ingest[0].alive()
