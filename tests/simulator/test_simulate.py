"""`sentinel simulate` against the real stack (broker, ingest, PostgreSQL):

- LOAD TEST (slow, ~2 min): 500 virtual devices sampling every 2 s for 60 s, with the
  simulator's random outages (devices dropping off, spooling and replaying), end with every
  sample stored exactly once: the tenant's row count = distinct (device_id, seq) = the summary's
  "sampled", nothing pending, each device's seqs contiguous from 0;
- a simulator stopped by the seat limit halfway through enrolling keeps the credentials it
  did get, so the next run reuses those devices instead of enrolling (and paying for) more;
- a restarted simulator (same organization, credentials reused from the data directory)
  continues each device's numbering, so its samples are neither dropped nor stored under a seq
  the device already used.

Measured numbers are printed (pytest -s shows them).
"""

from __future__ import annotations

import os

import httpx
import pytest

from sentinel.config import Settings
from sentinel.stack.launcher import Stack
from tests.simulator.support import (
    device_count,
    fleet_org,
    raise_seat_limit,
    simulate,
    stored,
)

# Overridable to measure other sizes: SENTINEL_TEST_SIM=devices,interval,duration
DEVICES, INTERVAL, DURATION = (
    float(x) for x in os.environ.get("SENTINEL_TEST_SIM", "500,2,60").split(",")
)


@pytest.mark.timeout(400)
def test_load_500_devices_every_2s_for_60s_store_every_sample_once(
    stack: Stack, settings: Settings, https: httpx.Client
) -> None:
    org_id = fleet_org(https, settings, seats=int(DEVICES) + 100)
    run = simulate(settings, org_id, int(DEVICES), INTERVAL, DURATION)
    assert run.returncode == 0, run.output
    summary = run.summary
    result = stored(settings, org_id)
    expected = DEVICES * DURATION / INTERVAL
    print(
        f"\nsimulate {int(DEVICES)} devices every {INTERVAL:g}s for {DURATION:g}s: "
        f"wall {run.seconds:.1f}s (simulator CPU {run.cpu_seconds:.1f}s), summary {summary}, stored {result.rows} rows "
        f"({result.rows / DURATION:.0f} samples/s offered; ideal {expected:.0f} samples)"
    )
    assert summary["pending"] == 0
    assert summary["sampled"] >= expected * 0.9, "the simulator fell far behind its schedule"
    assert summary["receipted"] == summary["sampled"]
    assert summary["connects"] >= DEVICES
    assert result.rows == result.distinct == summary["sampled"]
    assert result.devices == DEVICES
    for device_id, (rows, low, high) in result.per_device.items():
        assert (low, high) == (0, rows - 1), f"device {device_id}: seqs {low}..{high}, {rows} rows"


def test_a_restarted_simulator_continues_numbering(
    stack: Stack, settings: Settings, https: httpx.Client
) -> None:
    org_id = fleet_org(https, settings, seats=50)
    first = simulate(settings, org_id, 10, 0.5, 4)
    assert first.returncode == 0, first.output
    after_first = stored(settings, org_id)
    assert after_first.rows == first.summary["sampled"]

    second = simulate(settings, org_id, 10, 0.5, 4)
    assert second.returncode == 0, second.output
    result = stored(settings, org_id)
    assert result.devices == 10  # the same fleet, not ten new devices
    assert result.rows == first.summary["sampled"] + second.summary["sampled"]
    assert result.rows == result.distinct, "a restarted device reused seqs it had already sent"
    for device_id, (rows, low, high) in result.per_device.items():
        assert (low, high) == (0, rows - 1), f"device {device_id}: seqs {low}..{high}, {rows} rows"


def test_enrollment_cut_short_by_the_seat_limit_keeps_what_it_enrolled(
    stack: Stack, settings: Settings, https: httpx.Client
) -> None:
    org_id = fleet_org(https, settings, seats=5)
    refused = simulate(settings, org_id, 8, 1, 1)
    assert refused.returncode != 0
    assert "seat" in refused.output.lower(), refused.output
    assert device_count(settings, org_id) == 5

    raise_seat_limit(settings, org_id, 8)
    run = simulate(settings, org_id, 8, 1, 2)
    assert run.returncode == 0, run.output
    assert device_count(settings, org_id) == 8, "the first five devices were enrolled again"
    assert stored(settings, org_id).devices == 8
