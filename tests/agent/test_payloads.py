"""What the agent sends is what ingest accepts: this machine's real sample and inventory pass
ingest's strict (extra="forbid") message models; an inventory with thousands of packages is cut
down to fit, because the broker drops any device that sends a packet over its size limit — shown
here against the real broker, after which the trimmed inventory is stored."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from sentinel_agent.collectors import Collector, inventory
from sentinel_agent.runtime import MAX_INVENTORY_BYTES, inventory_payload

from sentinel.config import Settings
from sentinel.ingest.payloads import InventoryMessage, Sample
from sentinel.stack.launcher import Stack
from sentinel.stack.mosquitto import MAX_PACKET_BYTES
from tests.agent.support import agent_org, get_device, wait_for
from tests.fleet import DeviceClient, enroll


def big_inventory(packages: int = 10_000) -> dict[str, Any]:
    data = inventory()
    data["software"] = [
        {"name": f"lib{i:05d}-common-data-package", "version": f"{i % 9}.{i % 97}.{i}-1ubuntu0.22"}
        for i in range(packages)
    ]
    return data


def test_real_sample_and_inventory_pass_ingest_validation() -> None:
    collector = Collector()
    time.sleep(0.2)
    sample = collector.sample(collect_user_names=True)
    assert {"cpu_pct", "mem_pct", "uptime_s"} <= sample.keys()
    Sample.model_validate({"seq": 0, "ts": time.time(), **sample})
    InventoryMessage.model_validate_json(inventory_payload(inventory()))


def test_a_huge_inventory_is_trimmed_to_fit() -> None:
    assert MAX_INVENTORY_BYTES < MAX_PACKET_BYTES - 1024  # room for the MQTT header and topic
    data = big_inventory()
    assert len(json.dumps(data).encode()) > MAX_PACKET_BYTES
    payload = inventory_payload(data)
    assert len(payload.encode()) <= MAX_INVENTORY_BYTES
    message = InventoryMessage.model_validate_json(payload)
    assert message.software and 1000 < len(message.software) < 10_000
    assert message.hostname == data["hostname"] and message.os_name == data["os_name"]
    small = inventory_payload({"hostname": "pc", "software": [{"name": "a"}]})
    assert json.loads(small) == {"v": 1, "hostname": "pc", "software": [{"name": "a"}]}


@pytest.mark.timeout(120)
def test_the_broker_drops_oversized_inventories_and_takes_trimmed_ones(
    stack: Stack, settings: Settings, https: httpx.Client
) -> None:
    org = agent_org(https)
    enrollment = enroll(https, org.enrollment_token)
    data = big_inventory()
    topic = f"{enrollment.prefix}/inventory"
    untrimmed = DeviceClient(settings, enrollment)
    untrimmed.connect()
    try:
        untrimmed.client.publish(topic, json.dumps({"v": 1, **data}), qos=1)
        wait_for(lambda: untrimmed.disconnects >= 1, 15, what="the broker to drop the device")
    finally:
        # paho would resend the unacknowledged message on every reconnect: dropped forever.
        untrimmed.close()
    assert get_device(https, org, enrollment.device_id)["inventory_at"] is None

    trimmed = DeviceClient(settings, enrollment)
    trimmed.connect()
    try:
        trimmed.client.publish(topic, inventory_payload(data), qos=1).wait_for_publish(10)
        wait_for(lambda: get_device(https, org, enrollment.device_id)["inventory_at"], 20)
        assert get_device(https, org, enrollment.device_id)["os_name"] == data["os_name"]
        assert trimmed.disconnects == 0
    finally:
        trimmed.close()
