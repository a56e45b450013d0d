"""Nothing lost, nothing doubled (DESIGN §5), end to end through the real broker, ingest and
database: ten devices that behave like the agent (spool until receipted, resend with the
original seq and ts) stream 1,000 samples each while the ingest process is SIGKILLed and
restarted and, later, the broker itself is restarted. Afterwards every (device, seq) is in the
tenant's `telemetry` table exactly once with the values and timestamp it was taken with, every
sample was receipted, and resent samples were skipped as duplicates by ingest.

The server side alone (no resends): the broker queues for a stopped ingest's persistent session,
keeps that queue across its own restart, and — because a single ingest subscribes without
`$share` (Mosquitto 2.0 does not persist shared subscriptions) — also keeps what arrives after
a broker restart and before ingest reconnects."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

import httpx
import redis

from sentinel.config import Settings
from sentinel.stack.launcher import Stack
from tests.fleet import DeviceClient
from tests.ingest.disruption import (
    ensure_running,
    kill_ingest,
    restart_broker,
    restart_ingest,
    start_ingest,
    wait_reconnected,
)
from tests.ingest.spooling import SpoolingDevice, sample_metrics
from tests.ingest.support import (
    fetch,
    ingest_stats,
    new_device,
    new_org,
    stats_delta,
    stored_rows,
    telemetry_table,
    wait_for,
)

DEVICES = 10
SAMPLES = 1000
CHUNK = 20
PERIOD = 0.3  # one message per device every 0.3 s: 50 messages each over ~15 s
KILL_INGEST_AT = 4.0
INGEST_DOWN_FOR = 1.0  # the broker queues for ingest's persistent session meanwhile
RESTART_BROKER_AT = 9.0
SETTLE_TIMEOUT = 60.0


@dataclass
class Run:
    started: float = field(default_factory=time.monotonic)
    events: dict[str, float] = field(default_factory=dict)
    produced_when: dict[str, int] = field(default_factory=dict)

    def mark(self, name: str, devices: list[SpoolingDevice]) -> None:
        self.events[name] = time.monotonic() - self.started
        self.produced_when[name] = sum(len(d.produced) for d in devices)


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def drive(stack: Stack, devices: list[SpoolingDevice], cache: redis.Redis) -> Run:
    """Stream every device's samples on a fixed pace while crashing ingest and restarting the
    broker, then keep resending until every sample is receipted."""
    run = Run()
    failures: list[BaseException] = []

    def pace() -> None:
        try:
            for k in range(SAMPLES // CHUNK):
                sleep_until(run.started + k * PERIOD)
                for device in devices:
                    device.produce(range(k * CHUNK, (k + 1) * CHUNK))
                    device.resend_unreceipted()
        except BaseException as exc:  # surfaced in the test thread
            failures.append(exc)

    sender = threading.Thread(target=pace, name="lossless-pace", daemon=True)
    sender.start()
    try:
        sleep_until(run.started + KILL_INGEST_AT)
        run.mark("ingest killed", devices)
        old_pid = stack.ingest[0].process.pid if stack.ingest[0].process else None
        assert restart_ingest(stack, cache, INGEST_DOWN_FOR) != old_pid
        run.mark("ingest back", devices)
        sleep_until(run.started + RESTART_BROKER_AT)
        run.mark("broker stopping", devices)
        restart_broker(stack, cache)
        run.mark("broker back", devices)
    finally:
        sender.join()
    assert not failures, failures
    run.mark("all sent", devices)

    deadline = time.monotonic() + SETTLE_TIMEOUT
    while any(d.unreceipted() for d in devices):
        assert time.monotonic() < deadline, {
            d.enrollment.device_id: d.unreceipted() for d in devices if d.unreceipted()
        }
        for device in devices:
            device.resend_unreceipted()
        time.sleep(0.2)
    run.mark("all receipted", devices)

    # An agent whose receipt was lost resends stored samples: ingest must skip them again.
    marks = [len(d.receipts) for d in devices]
    for device in devices:
        device.replay(range(CHUNK))
    for device, mark in zip(devices, marks, strict=True):
        wait_for(
            lambda d=device, m=mark: any(  # type: ignore[misc]
                r["stored"] == [[0, CHUNK - 1]] for r in d.receipts[m:]
            ),
            what="receipt of the replayed samples",
        )
    run.mark("replay receipted", devices)
    return run


def test_nothing_lost_nothing_doubled_through_crash_and_broker_restart(
    https: httpx.Client, settings: Settings, stack: Stack, redis_client: redis.Redis
) -> None:
    org = new_org(https)
    enrollments = [new_device(https, org) for _ in range(DEVICES)]
    devices = [SpoolingDevice(settings, e) for e in enrollments]
    before = ingest_stats(redis_client)
    try:
        for device in devices:
            device.connect()
        run = drive(stack, devices, redis_client)
    finally:
        for device in devices:
            device.close()
        ensure_running(stack)
    time.sleep(1.5)  # ingest flushes its counters every second
    delta = stats_delta(before, ingest_stats(redis_client))

    # The disruptions really happened mid-stream, and every device lived through a reconnect.
    total = DEVICES * SAMPLES
    assert 0 < run.produced_when["ingest killed"] < total
    assert run.produced_when["broker stopping"] < total
    assert all(d.connects >= 2 for d in devices), [d.connects for d in devices]

    # Every sample was receipted as stored; none was refused.
    for device in devices:
        assert device.receipted == set(range(SAMPLES))
        assert device.refused == set()

    # Exactly once in the database, with the seq, ts and values the device took it with.
    table = telemetry_table(org.org_id)
    [summary] = fetch(
        settings,
        org.org_id,
        f"""SELECT count(*) AS rows, count(DISTINCT (device_id, seq)) AS samples,
                   count(DISTINCT device_id) AS devices, min(seq) AS first, max(seq) AS last
            FROM {table}""",
    )
    per_device = fetch(
        settings,
        org.org_id,
        f"""SELECT device_id, count(*) AS rows, count(DISTINCT seq) AS seqs,
                   min(seq) AS first, max(seq) AS last
            FROM {table} GROUP BY device_id""",
    )
    rows = fetch(settings, org.org_id, f"SELECT device_id, seq, ts, cpu_pct, mem_pct FROM {table}")
    assert dict(summary) == {
        "rows": total,
        "samples": total,
        "devices": DEVICES,
        "first": 0,
        "last": SAMPLES - 1,
    }
    assert {r["device_id"] for r in per_device} == {UUID(e.device_id) for e in enrollments}
    for row in per_device:
        assert (row["rows"], row["seqs"], row["first"], row["last"]) == (
            SAMPLES,
            SAMPLES,
            0,
            SAMPLES - 1,
        )
    produced = {UUID(d.enrollment.device_id): d.produced for d in devices}
    for row in rows:
        sample = produced[row["device_id"]][row["seq"]]
        assert row["ts"] == datetime.fromtimestamp(sample["ts"], UTC)
        metrics = sample_metrics(row["seq"])
        assert (row["cpu_pct"], row["mem_pct"]) == (metrics["cpu_pct"], metrics["mem_pct"])

    # Ingest skipped what was sent twice (counts of the killed process's last second are lost).
    replayed = DEVICES * CHUNK
    assert delta.get("samples.duplicate", 0) >= replayed
    assert delta.get("samples.stored", 0) <= total
    after_reconnect = sum(d.resent_after_reconnect for d in devices)
    after_timeout = sum(d.resent_after_timeout for d in devices)
    print(
        f"\nlossless: {total} samples from {DEVICES} devices; "
        f"sent in {run.events['all sent']:.1f}s, all receipted after "
        f"{run.events['all receipted']:.1f}s; ingest killed at {run.events['ingest killed']:.1f}s "
        f"(back {run.events['ingest back']:.1f}s), broker restarted "
        f"{run.events['broker stopping']:.1f}-{run.events['broker back']:.1f}s; "
        f"samples resent by devices after a reconnect {after_reconnect}, after "
        f"{devices[0].resend_after:.0f}s without receipt {after_timeout}, replayed {replayed}; "
        "ingest counted "
        f"stored={delta.get('samples.stored', 0)} "
        f"duplicate={delta.get('samples.duplicate', 0)}"
    )


def test_broker_queues_for_a_stopped_ingest_even_across_its_own_restart(
    https: httpx.Client, settings: Settings, stack: Stack, redis_client: redis.Redis
) -> None:
    """The server side alone, without any resend by the device: while ingest is down the broker
    queues for its persistent session, keeps that queue across its own restart, and delivers it
    once ingest is back."""
    org = new_org(https)
    enrollment = new_device(https, org)
    device = DeviceClient(settings, enrollment)
    device.connect()
    try:
        kill_ingest(stack, redis_client)
        for start in range(0, 100, 20):
            device.send_samples(range(start, start + 20), cpu_pct=1.0)  # PUBACKed by the broker
        connections = len(device.connect_results)
        restart_broker(stack, redis_client, ingest_running=False)
        wait_reconnected(device, connections)
        assert device.stored_seqs() == set()  # nothing has been stored yet
        start_ingest(stack, redis_client)
        device.wait_receipts(set(range(100)), timeout=20)
    finally:
        device.close()
        ensure_running(stack)
    rows = stored_rows(settings, org.org_id, enrollment.device_id)
    assert [r["seq"] for r in rows] == list(range(100))


def test_broker_queues_for_a_stopped_ingest_what_arrives_after_its_restart(
    https: httpx.Client, settings: Settings, stack: Stack, redis_client: redis.Redis
) -> None:
    org = new_org(https)
    enrollment = new_device(https, org)
    device = DeviceClient(settings, enrollment)
    device.connect()
    try:
        kill_ingest(stack, redis_client)
        connections = len(device.connect_results)
        restart_broker(stack, redis_client, ingest_running=False)
        wait_reconnected(device, connections)
        device.send_samples(range(20), cpu_pct=1.0)  # PUBACKed by the restarted broker
        start_ingest(stack, redis_client)
        device.wait_receipts(set(range(20)), timeout=5)
    finally:
        device.close()
        ensure_running(stack)
