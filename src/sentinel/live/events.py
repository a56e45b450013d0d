"""Publishing live events. Best effort: a live event lost to a Redis hiccup is never data
loss (the durable state is in PostgreSQL), so publishing never fails the caller."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import redis.asyncio as redis

from sentinel.logging import get_logger

log = get_logger(__name__)


def channel(org_id: UUID | str) -> str:
    return f"live:{org_id}"


def encode(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields}, default=str, separators=(",", ":"))


async def publish(client: redis.Redis, org_id: UUID | str, kind: str, **fields: Any) -> None:
    try:
        await client.publish(channel(org_id), encode(kind, **fields))
    except redis.RedisError as exc:
        log.warning("live event not published", error=exc.__class__.__name__, kind=kind)
