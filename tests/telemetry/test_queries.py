"""Telemetry reads over data that went through the real broker and ingest: a device's series is
bucketed server-side with exact averages and maxima per bucket (half-open range, empty buckets
absent, other devices never mixed in); malformed ranges are refused with 422 `invalid_range`;
another organization's device is 404; the fleet summary counts presence, the disk, battery,
CPU and memory thresholds and operating system versions exactly."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sentinel.config import Settings
from sentinel.stack.launcher import Stack
from tests.fleet import Enrollment
from tests.harness import trust
from tests.ingest.support import (
    OFFLINE,
    Org,
    connected,
    new_device,
    new_org,
    wait_device,
)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def publish_samples(settings: Settings, device: Enrollment, samples: list[dict[str, Any]]) -> None:
    with connected(settings, device) as client:
        client.publish("telemetry", {"v": 1, "samples": samples})
        client.wait_receipts({s["seq"] for s in samples})


def series(https: httpx.Client, org: Org, device_id: str, **params: Any) -> httpx.Response:
    return https.get(
        org.path(f"/devices/{device_id}/telemetry"), params=params, headers=org.owner.headers
    )


@pytest.fixture(scope="module")
def module_https(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=stack.settings.public_url, verify=trust(stack.settings), timeout=10
    ) as client:
        yield client


@pytest.fixture(scope="module")
def known_series(module_https: httpx.Client, settings: Settings) -> tuple[Org, str, str, float]:
    """One device with samples at known times and values (about half an hour ago, aligned to
    five minutes), a second device in the same window, and the shared base time."""
    https = module_https
    org = new_org(https)
    device, neighbour = new_device(https, org), new_device(https, org)
    base = float((int(time.time()) - 1800) // 300 * 300)
    publish_samples(
        settings,
        device,
        [
            {"seq": 0, "ts": base - 1, "cpu_pct": 99.0, "mem_pct": 99.0},  # before `from`
            {"seq": 1, "ts": base, "cpu_pct": 10.0, "mem_pct": 40.0},
            {"seq": 2, "ts": base + 30, "cpu_pct": 20.0, "mem_pct": 60.0},
            {"seq": 3, "ts": base + 59.5, "cpu_pct": 45.0, "mem_pct": 50.0},
            {"seq": 4, "ts": base + 60, "cpu_pct": 80.0, "mem_pct": 10.0},
            # nothing in [base+120, base+180)
            {"seq": 5, "ts": base + 200, "cpu_pct": 1.5, "mem_pct": 30.0},
            {"seq": 6, "ts": base + 210, "cpu_pct": 2.5},
            {"seq": 7, "ts": base + 240, "cpu_pct": 99.0, "mem_pct": 99.0},  # at `to`: excluded
        ],
    )
    publish_samples(
        settings,
        neighbour,
        [{"seq": 0, "ts": base + 10, "cpu_pct": 100.0, "mem_pct": 100.0}],
    )
    return org, device.device_id, neighbour.device_id, base


def test_series_buckets_exact_averages_and_maxima(
    https: httpx.Client, known_series: tuple[Org, str, str, float]
) -> None:
    org, device_id, _, base = known_series
    response = series(
        https,
        org,
        device_id,
        **{"from": iso(base), "to": iso(base + 240)},
        step=60,
        metrics="cpu_pct,mem_pct",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["device_id"] == device_id
    assert body["step"] == 60
    assert body["metrics"] == ["cpu_pct", "mem_pct"]
    points = [{**p, "t": datetime.fromisoformat(p["t"]).timestamp()} for p in body["points"]]
    assert points == [
        {
            "t": base,
            "samples": 3,
            "cpu_pct": 25.0,
            "cpu_pct_max": 45.0,
            "mem_pct": 50.0,
            "mem_pct_max": 60.0,
        },
        {
            "t": base + 60,
            "samples": 1,
            "cpu_pct": 80.0,
            "cpu_pct_max": 80.0,
            "mem_pct": 10.0,
            "mem_pct_max": 10.0,
        },
        {
            "t": base + 180,
            "samples": 2,
            "cpu_pct": 2.0,
            "cpu_pct_max": 2.5,
            "mem_pct": 30.0,  # a missing value does not count towards the average
            "mem_pct_max": 30.0,
        },
    ]


def test_series_coarser_step_and_default_metrics(
    https: httpx.Client, known_series: tuple[Org, str, str, float]
) -> None:
    org, device_id, _, base = known_series
    response = series(https, org, device_id, **{"from": iso(base), "to": iso(base + 240)}, step=300)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["metrics"] == ["cpu_pct", "mem_pct", "disk_pct", "battery_pct"]
    [point] = body["points"]
    assert datetime.fromisoformat(point["t"]).timestamp() == base
    assert point["samples"] == 6
    assert point["cpu_pct"] == (10 + 20 + 45 + 80 + 1.5 + 2.5) / 6
    assert point["cpu_pct_max"] == 80.0
    assert point["mem_pct"] == (40 + 60 + 50 + 10 + 30) / 5
    assert point["disk_pct"] is None and point["battery_pct_max"] is None


def test_series_returns_the_values_devices_reported(
    https: httpx.Client, settings: Settings, known_series: tuple[Org, str, str, float]
) -> None:
    """Percentages are stored as `real`; what comes back is 33.3, not 33.29999923706055."""
    org, _, _, base = known_series
    device = new_device(https, org)
    publish_samples(
        settings,
        device,
        [
            {"seq": 0, "ts": base + 5, "cpu_pct": 33.3, "temp_c": 41.7, "net_rx_bps": 1234.5},
            {"seq": 1, "ts": base + 6, "cpu_pct": 66.6, "temp_c": 38.2, "net_rx_bps": 0.1},
        ],
    )
    response = series(
        https,
        org,
        device.device_id,
        **{"from": iso(base), "to": iso(base + 60)},
        step=60,
        metrics="cpu_pct,temp_c,net_rx_bps",
    )
    assert response.status_code == 200, response.text
    [point] = response.json()["points"]
    assert point["samples"] == 2
    assert (point["cpu_pct"], point["cpu_pct_max"]) == (49.95, 66.6)
    assert (point["temp_c"], point["temp_c_max"]) == (39.95, 41.7)
    assert (point["net_rx_bps"], point["net_rx_bps_max"]) == ((1234.5 + 0.1) / 2, 1234.5)


def test_series_of_other_device_is_its_own(
    https: httpx.Client, known_series: tuple[Org, str, str, float]
) -> None:
    org, _, neighbour_id, base = known_series
    response = series(
        https,
        org,
        neighbour_id,
        **{"from": iso(base), "to": iso(base + 240)},
        step=60,
        metrics="cpu_pct",
    )
    assert response.status_code == 200, response.text
    assert [(p["samples"], p["cpu_pct"]) for p in response.json()["points"]] == [(1, 100.0)]


NAIVE = "2026-01-01T00:00:00"
# case: (query parameters given the base time, what the problem's detail must say)
INVALID_RANGES: dict[str, tuple[Callable[[float], dict[str, Any]], str]] = {
    "from after to": (lambda b: {"from": iso(b + 60), "to": iso(b)}, "must be before"),
    "from equals to": (lambda b: {"from": iso(b), "to": iso(b)}, "must be before"),
    "too many points": (
        lambda b: {"from": iso(b - 86_400 * 10), "to": iso(b), "step": 60},
        "At most 5000 points",
    ),
    "unknown metric": (lambda b: {"metrics": "cpu_pct,password_hash"}, "password_hash"),
    "injected metric": (lambda b: {"metrics": "cpu_pct) FROM devices --"}, "Unknown metrics"),
    "no metric": (lambda b: {"metrics": " , "}, "(none given)"),
    "naive from": (lambda b: {"from": NAIVE, "to": iso(b)}, "time zone"),
    "naive to": (lambda b: {"from": iso(b), "to": NAIVE}, "time zone"),
    "naive both": (lambda b: {"from": NAIVE, "to": "2026-01-01T01:00:00"}, "time zone"),
}


@pytest.mark.parametrize("case", sorted(INVALID_RANGES))
def test_invalid_ranges_are_refused(
    https: httpx.Client, known_series: tuple[Org, str, str, float], case: str
) -> None:
    org, device_id, _, base = known_series
    params, detail = INVALID_RANGES[case]
    response = series(https, org, device_id, **params(base))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid_range"
    assert detail in body["detail"]


def test_devices_outside_the_organization_are_not_found(
    https: httpx.Client, known_series: tuple[Org, str, str, float]
) -> None:
    org, device_id, _, base = known_series
    other = new_org(https)
    window = {"from": iso(base), "to": iso(base + 240)}
    # Another organization asking for this device through its own path: not its device.
    response = series(https, other, device_id, **window)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found"
    # No such device at all.
    response = series(https, org, "00000000-0000-4000-8000-000000000000", **window)
    assert response.status_code == 404, response.text
    # Another organization's owner through this organization's path: no access.
    response = https.get(
        org.path(f"/devices/{device_id}/telemetry"), params=window, headers=other.owner.headers
    )
    assert response.status_code in (403, 404), response.text
    assert "points" not in response.text


def test_fleet_summary_counts_presence_thresholds_and_os_versions(
    https: httpx.Client, settings: Settings
) -> None:
    org = new_org(https)
    full_disk, low_battery, charging, never, revoked, retired = (
        new_device(https, org) for _ in range(6)
    )
    now = time.time()
    reports: list[tuple[Enrollment, dict[str, Any], tuple[str, str]]] = [
        # on the thresholds' edges: battery 20 is not low, disk 90 is not nearly full
        (
            full_disk,
            {"disk_pct": 95.0, "battery_pct": 20.0, "charging": False},
            ("Windows", "11 23H2"),
        ),
        (
            low_battery,
            {"battery_pct": 10.0, "charging": False, "mem_pct": 95.0},
            ("ChromeOS", "120"),
        ),
        (
            charging,
            {"battery_pct": 10.0, "charging": True, "cpu_pct": 95.0, "disk_pct": 90.0},
            ("Windows", "11 23H2"),
        ),
    ]
    for enrollment, metrics, (os_name, os_version) in reports:
        with connected(settings, enrollment) as device:
            device.publish("telemetry", {"v": 1, "samples": [{"seq": 1, "ts": now, **metrics}]})
            device.wait_receipts({1})
            device.publish("inventory", {"v": 1, "os_name": os_name, "os_version": os_version})
            if enrollment is low_battery:
                device.publish("status", OFFLINE, retain=True)
        wait_device(
            https,
            org,
            enrollment.device_id,
            lambda d: d["inventory_at"] is not None,
            what="inventory stored",
        )
    wait_device(https, org, low_battery.device_id, lambda d: not d["online"], what="offline")
    for enrollment, action in ((revoked, "revoke"), (retired, "decommission")):
        response = https.post(
            org.path(f"/devices/{enrollment.device_id}/{action}"), headers=org.owner.headers
        )
        assert response.status_code == 204, response.text

    response = https.get(org.path("/fleet/summary"), headers=org.owner.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["counts"] == {
        "online": 2,
        "offline": 1,
        "never_seen": 1,
        "revoked": 1,
        "decommissioned": 1,
        "disk_nearly_full": 1,
        "battery_low": 1,
        "cpu_busy": 1,
        "memory_high": 1,
    }
    versions = {(v["os_name"], v["os_version"]): v["devices"] for v in body["os_versions"]}
    assert versions == {("Windows", "11 23H2"): 2, ("ChromeOS", "120"): 1, ("unknown", ""): 2}
    assert never.device_id  # enrolled, never connected: counted as never seen above

    other = new_org(https)
    response = https.get(org.path("/fleet/summary"), headers=other.owner.headers)
    assert response.status_code in (403, 404), response.text
    empty = https.get(other.path("/fleet/summary"), headers=other.owner.headers).json()
    assert empty["counts"] == dict.fromkeys(body["counts"], 0)
    assert empty["os_versions"] == []
