"""`Fleet` in process through a broker restart: every virtual device loses its connection,
keeps sampling into its spool, reconnects on its own and replays; afterwards every sample is
stored exactly once and nothing is pending. Also: stopping the fleet early ends the run."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from uuid import UUID

import httpx

from sentinel.config import Settings
from sentinel.simulator.enrollment import enroll_fleet, load_credentials, store_path
from sentinel.simulator.fleet import Fleet, FleetStats
from sentinel.stack.launcher import Stack
from tests.agent.support import broker_restored, start_broker, stop_broker
from tests.simulator.support import fleet_org, stored

DEVICES = 20
INTERVAL = 0.5


def run_in_thread(
    fleet: Fleet, duration: float | None, drain: float
) -> tuple[threading.Thread, list[FleetStats]]:
    result: list[FleetStats] = []
    thread = threading.Thread(
        target=lambda: result.append(fleet.run(duration, drain_seconds=drain)), daemon=True
    )
    thread.start()
    return thread, result


def test_fleet_rides_out_a_broker_restart(
    stack: Stack, settings: Settings, https: httpx.Client
) -> None:
    org_id = fleet_org(https, settings, seats=DEVICES + 5)
    credentials = asyncio.run(enroll_fleet(settings, UUID(org_id), DEVICES))
    assert len(credentials) == DEVICES
    assert Path(store_path(settings, UUID(org_id))).stat().st_mode & 0o077 == 0
    assert {c.device_id for c in load_credentials(settings, UUID(org_id))} == {
        c.device_id for c in credentials
    }
    fleet = Fleet(
        credentials,
        "localhost",
        settings.mqtts_port,
        str(settings.ca_cert_path),
        INTERVAL,
        outage_rate=0.0,
    )
    try:
        with broker_restored(stack):
            thread, result = run_in_thread(fleet, duration=25, drain=90)
            time.sleep(6)
            stop_broker(stack)
            time.sleep(6)
            pending_during = fleet.pending()
            start_broker(stack)
            thread.join(150)
            assert not thread.is_alive(), "the fleet did not finish"
        (stats,) = result
        assert pending_during >= DEVICES * 6 / INTERVAL * 0.5
        assert fleet.pending() == 0
        assert stats.connects >= 2 * DEVICES  # everyone reconnected after the restart
        assert stats.receipted == stats.sampled
        rows = stored(settings, org_id)
        assert rows.rows == rows.distinct == stats.sampled
        assert rows.devices == DEVICES
        print(f"\nfleet through a broker restart: {stats.as_dict()}")
    finally:
        fleet.stop.set()
        fleet.close()


def test_stopping_the_fleet_ends_the_run(
    stack: Stack, settings: Settings, https: httpx.Client
) -> None:
    org_id = fleet_org(https, settings, seats=5)
    credentials = asyncio.run(enroll_fleet(settings, UUID(org_id), 3))
    fleet = Fleet(credentials, "localhost", settings.mqtts_port, str(settings.ca_cert_path), 1.0)
    try:
        thread, result = run_in_thread(fleet, duration=None, drain=30)
        time.sleep(3)
        fleet.stop.set()
        thread.join(15)
        assert not thread.is_alive()
        assert result and result[0].sampled >= 3
    finally:
        fleet.close()
