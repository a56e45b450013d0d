"""An open live feed keeps re-checking the right it was opened with, even while events stream
without pause: when the session behind it is logged out or the person is removed from the
organization, the server closes the feed within seconds instead of streaming on until the
connection's lifetime cap."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from sentinel.config import Settings
from tests.fleet import Enrollment
from tests.ingest.support import Org, connected, new_device, new_org
from tests.live.feed import Recorder, open_feed, recording, refused_status
from tests.people import User, add_member

CLOSE_WITHIN = 12.0  # the re-check interval plus a margin, far below the 20 s heartbeat


@contextmanager
def streaming(settings: Settings, enrollment: Enrollment, every: float = 0.25) -> Iterator[None]:
    """A device sending a sample every `every` seconds, so the feed is never idle."""
    stop = threading.Event()

    def run() -> None:
        with connected(settings, enrollment) as device:
            seq = 0
            while not stop.wait(every):
                device.send_samples([seq], cpu_pct=1.0)
                seq += 1

    thread = threading.Thread(target=run, name="streaming-device", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(15)


async def closed_by_server(feed: Recorder) -> int | None:
    """Wait for the server to end the feed; returns its close code."""
    await asyncio.wait_for(feed.ws.wait_closed(), CLOSE_WITHIN)
    return feed.ws.close_code


def busy_feed_of(https: httpx.Client, settings: Settings) -> tuple[Org, User, Enrollment]:
    org = new_org(https)
    member = add_member(https, org.owner, org.org_id, "readonly")
    return org, member, new_device(https, org)


async def test_busy_feed_closes_after_logout(
    https: httpx.Client, ahttps: httpx.AsyncClient, settings: Settings
) -> None:
    org, member, enrollment = busy_feed_of(https, settings)
    with streaming(settings, enrollment):
        async with recording(open_feed(settings, org.org_id, token=member.access_token)) as feed:
            await feed.wait_for(lambda e: e.get("type") == "telemetry", what="telemetry")
            response = await ahttps.post("/auth/v1/logout", headers=member.headers)
            assert response.status_code == 204, response.text
            assert await closed_by_server(feed) == 4401
            assert len(feed.of_type("telemetry")) > 1  # it was busy until the end


async def test_busy_feed_closes_after_member_removal(
    https: httpx.Client, ahttps: httpx.AsyncClient, settings: Settings
) -> None:
    org, member, enrollment = busy_feed_of(https, settings)
    with streaming(settings, enrollment):
        async with recording(open_feed(settings, org.org_id, token=member.access_token)) as feed:
            await feed.wait_for(lambda e: e.get("type") == "telemetry", what="telemetry")
            response = await ahttps.delete(
                org.path(f"/members/{member.id}"), headers=org.owner.headers
            )
            assert response.status_code == 204, response.text
            assert await closed_by_server(feed) == 4403
        # A new handshake of the removed member is refused; the owner's feed carries on.
        assert (
            await refused_status(open_feed(settings, org.org_id, token=member.access_token)) == 403
        )
        async with recording(
            open_feed(settings, org.org_id, token=org.owner.access_token)
        ) as owner_feed:
            await owner_feed.wait_for(lambda e: e.get("type") == "telemetry", what="telemetry")
