"""The worker's liveness signal in Redis: its pid under a key with a short TTL."""

from __future__ import annotations

HEARTBEAT_KEY = "sentinel:worker:heartbeat"


def heartbeat_ttl(interval: float) -> int:
    """Three missed beats and the worker counts as gone."""
    return max(1, int(interval * 3))
