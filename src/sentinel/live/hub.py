"""Per-process fan-out of Redis live events to WebSocket clients.

One Redis pub/sub connection per API process, subscribed to exactly the organizations that
have a listener here. Each client has a bounded queue: a slow client loses the oldest events
and is told it lagged (the durable state is always in the API), never slowing anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from uuid import UUID

import redis.asyncio as redis

from sentinel.live.events import channel
from sentinel.logging import get_logger

log = get_logger(__name__)
QUEUE_SIZE = 256
LAGGED = '{"type":"lagged"}'


class Subscription:
    def __init__(self, org_id: UUID) -> None:
        self.org_id = org_id
        self.queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self.dropped = 0

    def offer(self, event: str) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                with contextlib.suppress(asyncio.QueueFull):
                    self.queue.put_nowait(LAGGED)
                return
        self.queue.put_nowait(event)


class LiveHub:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)
        self.listeners: dict[UUID, set[Subscription]] = defaultdict(set)
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def subscribe(self, org_id: UUID) -> Subscription:
        subscription = Subscription(org_id)
        async with self._lock:
            if not self.listeners[org_id]:
                await self.pubsub.subscribe(channel(org_id))
            self.listeners[org_id].add(subscription)
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read(), name="live-hub")
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        async with self._lock:
            listeners = self.listeners.get(subscription.org_id)
            if listeners is None:
                return
            listeners.discard(subscription)
            if not listeners:
                del self.listeners[subscription.org_id]
                with contextlib.suppress(redis.RedisError):
                    await self.pubsub.unsubscribe(channel(subscription.org_id))

    async def _read(self) -> None:
        while self.listeners:
            try:
                message = await self.pubsub.get_message(timeout=1.0)
            except redis.RedisError as exc:
                log.warning("live hub lost redis; retrying", error=exc.__class__.__name__)
                await asyncio.sleep(1.0)
                continue
            if message is None:
                continue
            name = message["channel"].decode()
            data = message["data"].decode()
            try:
                org_id = UUID(name.removeprefix("live:"))
            except ValueError:
                continue
            for subscription in list(self.listeners.get(org_id, ())):
                subscription.offer(data)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self.pubsub.aclose()  # type: ignore[no-untyped-call]
