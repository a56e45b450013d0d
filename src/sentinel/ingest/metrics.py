"""Ingest counters: accepted, duplicate and rejected-by-reason, flushed to a Redis hash so
every ingest process adds to one total (`sentinel ingest-stats`, `/internal/metrics`)."""

from __future__ import annotations

import time
from collections import Counter

import redis.asyncio as redis

from sentinel.logging import get_logger

log = get_logger(__name__)
STATS_KEY = "sentinel:ingest:stats"
REJECTION_REASONS = (
    "bad_topic",
    "too_large",
    "malformed_json",
    "invalid_schema",
    "identity_mismatch",
    "unknown_device",
    "inactive_device",
    "clock_skew",
    "expired",
    "write_failed",
    "internal_error",
)


class IngestMetrics:
    def __init__(self, index: int | None = None) -> None:
        self.index = index
        self.pending: Counter[str] = Counter()
        self.totals: Counter[str] = Counter()
        self._last_log: dict[str, float] = {}

    def count(self, name: str, amount: int = 1) -> None:
        self.pending[name] += amount
        self.totals[name] += amount

    def reject(self, reason: str, topic: str) -> None:
        self.count(f"rejected.{reason}")
        now = time.monotonic()
        if now - self._last_log.get(reason, 0.0) >= 1.0:  # at most one line per reason a second
            self._last_log[reason] = now
            log.warning(
                "message rejected",
                reason=reason,
                topic=topic,
                total=self.totals[f"rejected.{reason}"],
            )

    async def flush(self, client: redis.Redis) -> None:
        if not self.pending:
            return
        pending, self.pending = self.pending, Counter()
        try:
            async with client.pipeline(transaction=False) as pipe:
                for name, amount in pending.items():
                    pipe.hincrby(STATS_KEY, name, amount)
                    if self.index is not None:  # per process, to see how replicas share load
                        pipe.hincrby(f"{STATS_KEY}:{self.index}", name, amount)
                await pipe.execute()
        except redis.RedisError:
            self.pending.update(pending)  # keep them for the next flush
