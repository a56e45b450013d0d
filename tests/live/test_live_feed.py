"""The live WebSocket feed (DESIGN §6) through Caddy over wss: an organization's feed carries its
own devices' telemetry within a second of the device publishing it and never another
organization's events; handshakes without a valid member token, for an unknown organization, or
with the cookie from a foreign Origin are refused with 403, the cookie from our own Origin works;
revoking a device is announced as a presence event."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid

import httpx

from sentinel.config import Settings
from tests.fleet import DeviceClient
from tests.ingest.support import OFFLINE, ONLINE, connected, new_device, new_org
from tests.live.feed import Recorder, open_feed, recording, refused_status
from tests.people import signup

ROUNDS = 5
GAP = 0.3  # between publishes, so each message is its own ingest batch and live event
MAX_LATENCY = 1.0


async def publish_one(device: DeviceClient, seq: int) -> float:
    """Publish one sample; returns the monotonic time just before the publish."""
    started = time.monotonic()
    await asyncio.to_thread(device.send_samples, [seq], cpu_pct=float(seq % 100), mem_pct=50.0)
    return started


async def test_feed_is_fast_and_carries_only_its_own_organization(
    https: httpx.Client, settings: Settings
) -> None:
    org_a, org_b = new_org(https), new_org(https)
    dev_a, dev_b = new_device(https, org_a), new_device(https, org_b)
    with connected(settings, dev_a) as device_a, connected(settings, dev_b) as device_b:
        async with (
            recording(open_feed(settings, org_a.org_id, token=org_a.owner.access_token)) as feed_a,
            recording(open_feed(settings, org_b.org_id, token=org_b.owner.access_token)) as feed_b,
        ):
            latencies = []
            for i in range(ROUNDS):
                seq_a, seq_b = 100 + i, 200 + i
                sent_a = await publish_one(device_a, seq_a)
                await publish_one(device_b, seq_b)
                arrived, event = await feed_a.wait_for(
                    lambda e, s=seq_a: e.get("type") == "telemetry" and e.get("seq") == s,
                    within=MAX_LATENCY * 3,
                    what=f"A's telemetry seq {seq_a}",
                )
                latencies.append(arrived - sent_a)
                assert event["device_id"] == dev_a.device_id
                assert event["metrics"]["cpu_pct"] == float(seq_a % 100)
                assert event["metrics"]["mem_pct"] == 50.0
                await feed_b.wait_for(
                    lambda e, s=seq_b: e.get("seq") == s, what=f"B's telemetry seq {seq_b}"
                )
                await asyncio.sleep(GAP)
            await asyncio.sleep(1.0)  # anything misrouted would have arrived by now

    print(
        f"\nlive latency publish->wss: max {max(latencies) * 1000:.0f} ms, "
        f"all {[round(x * 1000) for x in latencies]} ms"
    )
    assert max(latencies) < MAX_LATENCY, latencies
    a_devices = {e.get("device_id") for _, e in feed_a.events if "device_id" in e}
    b_devices = {e.get("device_id") for _, e in feed_b.events if "device_id" in e}
    assert a_devices == {dev_a.device_id}, feed_a.events
    assert b_devices == {dev_b.device_id}, feed_b.events  # B's events did exist, on B's feed
    assert {e["seq"] for _, e in feed_a.of_type("telemetry")} == {100 + i for i in range(ROUNDS)}


async def test_handshakes_without_a_right_to_the_feed_are_refused(
    https: httpx.Client, settings: Settings
) -> None:
    org, other = new_org(https), new_org(https)
    outsider = signup(https)
    token = org.owner.access_token
    refusals = {
        "non-member": open_feed(settings, org.org_id, token=outsider.access_token),
        "other org's owner": open_feed(settings, org.org_id, token=other.owner.access_token),
        "garbage token": open_feed(settings, org.org_id, token=secrets.token_urlsafe(40)),
        "tampered token": open_feed(settings, org.org_id, token=token[:-4] + "AAAA"),
        "unknown org": open_feed(settings, str(uuid.uuid4()), token=token),
        "not an org id": open_feed(settings, "not-an-org", token=token),
        "no credentials": open_feed(settings, org.org_id, origin=settings.public_url),
        "cookie, foreign origin": open_feed(
            settings, org.org_id, cookie=token, origin="https://evil.example"
        ),
        "cookie, no origin": open_feed(settings, org.org_id, cookie=token),
        "bearer, foreign origin": open_feed(
            settings, org.org_id, token=token, origin="https://evil.example"
        ),
    }
    statuses = {name: await refused_status(feed) for name, feed in refusals.items()}
    assert statuses == dict.fromkeys(refusals, 403)

    async with recording(
        open_feed(settings, org.org_id, cookie=token, origin=settings.public_url)
    ) as feed:
        assert feed.ws.subprotocol == "sentinel.v1"
    async with recording(open_feed(settings, org.org_id, token=token)):
        pass


async def test_revoking_a_device_is_announced_as_presence(
    https: httpx.Client, ahttps: httpx.AsyncClient, settings: Settings
) -> None:
    org = new_org(https)
    enrollment = new_device(https, org)
    with connected(settings, enrollment) as device:
        device.publish("status", ONLINE, retain=True)
        async with recording(open_feed(settings, org.org_id, token=org.owner.access_token)) as feed:
            _, online = await feed.wait_for(
                lambda e: e.get("type") == "presence" and e.get("online") is True,
                what="presence online",
            )
            assert online["device_id"] == enrollment.device_id
            response = await ahttps.post(
                f"/api/v1/orgs/{org.org_id}/devices/{enrollment.device_id}/revoke",
                headers=org.owner.headers,
            )
            assert response.status_code == 204, response.text
            _, event = await feed.wait_for(
                lambda e: e.get("type") == "presence" and e.get("online") is False,
                what="presence offline on revoke",
            )
    assert event == {
        "type": "presence",
        "device_id": enrollment.device_id,
        "online": False,
        "status": "revoked",
    }


async def test_presence_events_follow_every_change(https: httpx.Client, settings: Settings) -> None:
    """A device's first telemetry brings it online, `status` offline takes it offline, and
    telemetry afterwards brings it back: each change is announced, none twice."""
    org = new_org(https)
    enrollment = new_device(https, org)

    def presence(feed: Recorder) -> list[bool]:
        return [e["online"] for _, e in feed.of_type("presence")]

    with connected(settings, enrollment) as device:
        async with recording(open_feed(settings, org.org_id, token=org.owner.access_token)) as feed:
            await publish_one(device, 0)
            await feed.wait_for(lambda e: e.get("seq") == 0, what="telemetry 0")
            await publish_one(device, 1)
            await feed.wait_for(lambda e: e.get("seq") == 1, what="telemetry 1")
            await asyncio.to_thread(device.publish, "status", OFFLINE, True)
            await feed.wait_for(lambda e: e.get("online") is False, what="presence offline")
            await publish_one(device, 2)
            await feed.wait_for(lambda e: e.get("seq") == 2, what="telemetry 2")
            await asyncio.sleep(0.5)
    assert presence(feed) == [True, False, True]
    assert {e["device_id"] for _, e in feed.of_type("presence")} == {enrollment.device_id}
