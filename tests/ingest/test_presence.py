"""Presence and inventory through the real broker and ingest: a retained `status` online makes a
device online in the API; the Last Will the broker publishes when a device's connection drops
without an MQTT DISCONNECT makes it offline; an inventory message fills the device's host name,
operating system and software list."""

from __future__ import annotations

import httpx

from sentinel.config import Settings
from tests.fleet import DeviceClient
from tests.ingest.support import (
    OFFLINE,
    ONLINE,
    connected,
    drop_connection,
    get_device,
    new_device,
    new_org,
    wait_device,
)


def test_retained_status_online_then_last_will_marks_offline(
    https: httpx.Client, settings: Settings
) -> None:
    org = new_org(https)
    enrollment = new_device(https, org)
    before = get_device(https, org, enrollment.device_id)
    assert before["online"] is False
    assert before["last_seen_at"] is None

    device = DeviceClient(settings, enrollment)
    device.client.will_set(f"{enrollment.prefix}/status", b'{"v":1,"state":"offline"}', 1, True)
    device.connect()
    dropped = False
    try:
        device.publish("status", {"v": 1, "state": "online", "agent_version": "9.8.7"}, True)
        online = wait_device(
            https, org, enrollment.device_id, lambda d: d["online"], what="device online"
        )
        assert online["agent_version"] == "9.8.7"
        assert online["last_seen_at"] is not None
        assert online["presence_changed_at"] is not None

        drop_connection(device)  # no DISCONNECT: the broker must publish the Last Will
        dropped = True
        offline = wait_device(
            https, org, enrollment.device_id, lambda d: not d["online"], what="Last Will offline"
        )
        assert offline["last_seen_at"] == online["last_seen_at"]  # offline keeps last-seen
        assert offline["presence_changed_at"] > online["presence_changed_at"]
    finally:
        if not dropped:
            device.close()


def test_clean_status_offline_and_back_online(https: httpx.Client, settings: Settings) -> None:
    org = new_org(https)
    enrollment = new_device(https, org)
    with connected(settings, enrollment) as device:
        device.publish("status", ONLINE, retain=True)
        wait_device(https, org, enrollment.device_id, lambda d: d["online"], what="online")
        device.publish("status", OFFLINE, retain=True)
        wait_device(https, org, enrollment.device_id, lambda d: not d["online"], what="offline")
        device.send_samples([0], cpu_pct=5.0)  # telemetry alone proves the device is up
        device.wait_receipts({0})
        wait_device(https, org, enrollment.device_id, lambda d: d["online"], what="online again")


def test_inventory_fills_device_details(https: httpx.Client, settings: Settings) -> None:
    org = new_org(https)
    enrollment = new_device(https, org, hostname="enrolled-name")
    inventory = {
        "v": 1,
        "hostname": "lab-pc-07",
        "os_name": "Windows",
        "os_version": "11 23H2",
        "os_build": "22631.3007",
        "agent_version": "1.4.0",
        "manufacturer": "Lenovo",
        "model": "ThinkCentre M70q",
        "cpu_cores": 8,
        "ram_bytes": 16 * 2**30,
        "software": [
            {"name": "Firefox", "version": "128.0", "publisher": "Mozilla"},
            {"name": "LibreOffice", "version": "24.2"},
        ],
    }
    with connected(settings, enrollment) as device:
        device.publish("inventory", inventory)
        body = wait_device(
            https,
            org,
            enrollment.device_id,
            lambda d: d["inventory_at"] is not None,
            what="inventory stored",
        )
    assert body["hostname"] == "lab-pc-07"
    assert body["os_name"] == "Windows"
    assert body["os_version"] == "11 23H2"
    assert body["agent_version"] == "1.4.0"
    stored = body["inventory"]
    assert stored["model"] == "ThinkCentre M70q"
    assert stored["ram_bytes"] == 16 * 2**30
    assert stored["software"] == [
        {"name": "Firefox", "version": "128.0", "publisher": "Mozilla"},
        {"name": "LibreOffice", "version": "24.2"},
    ]
    assert "v" not in stored and "org_id" not in stored
