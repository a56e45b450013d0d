"""A WebSocket client of the live feed through Caddy (wss, trusting only the stack's CA) that
records every event with the moment it arrived."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from sentinel.config import Settings
from sentinel.live.routes import SUBPROTOCOL
from tests.harness import trust


def live_url(settings: Settings, org_id: str) -> str:
    return f"wss://localhost:{settings.https_port}/api/v1/orgs/{org_id}/live"


def open_feed(
    settings: Settings,
    org_id: str,
    *,
    token: str | None = None,
    cookie: str | None = None,
    origin: str | None = None,
) -> connect:
    """The handshake as a browser (cookie + Origin) or a script (`bearer.<token>`) does it."""
    protocols = [Subprotocol(SUBPROTOCOL)]
    if token is not None:
        protocols.insert(0, Subprotocol(f"bearer.{token}"))
    return connect(
        live_url(settings, org_id),
        ssl=trust(settings),
        subprotocols=protocols,
        origin=Origin(origin) if origin else None,
        additional_headers={"Cookie": f"sentinel_at={cookie}"} if cookie else None,
        open_timeout=10,
    )


async def refused_status(feed: connect) -> int:
    """The HTTP status of a refused handshake (fails if the handshake succeeds)."""
    try:
        async with feed as ws:
            await ws.close()
    except InvalidStatus as exc:
        return exc.response.status_code
    raise AssertionError("the live feed accepted a handshake it must refuse")


@dataclass
class Recorder:
    """Reads a connection in the background: (arrival monotonic time, event) pairs."""

    ws: ClientConnection
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    async def run(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                self.events.append((time.monotonic(), json.loads(raw)))

    def of_type(self, kind: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, e) for t, e in self.events if e.get("type") == kind]

    async def wait_for(
        self, match: Any, within: float = 5.0, what: str = "live event"
    ) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + within
        while True:
            for arrived, event in self.events:
                if match(event):
                    return arrived, event
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} within {within}s; got {self.events[-5:]}")
            await asyncio.sleep(0.01)


@asynccontextmanager
async def recording(feed: connect) -> AsyncIterator[Recorder]:
    """Open the feed, check the greeting, and record everything until the block ends."""
    async with feed as ws:
        assert ws.subprotocol == SUBPROTOCOL
        hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert hello == {"type": "hello"}
        recorder = Recorder(ws)
        task = asyncio.create_task(recorder.run())
        try:
            yield recorder
        finally:
            await ws.close()
            await task
