"""Validation, per-organization batching and the write path.

Order of effects for a batch: one tenant transaction (telemetry rows with dedupe, last-seen,
presence, inventory) → commit → receipts → MQTT acknowledgements → live events. A batch whose
transaction fails for a connection reason is retried with backoff and nothing is acknowledged;
one that fails for a data reason is retried message by message, and a message that still
fails is refused with the reason `write_failed` (counted, logged, acknowledged) so that one bad
message can never block an organization. Samples refused individually — timestamps outside the
accepted window (`clock_skew`) or older than the organization's retention (`expired`) — are
listed in the receipt's `rejected`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import redis.asyncio as redis
from pydantic import ValidationError

from sentinel.commands import queries as command_queries
from sentinel.config import Settings
from sentinel.db.partitions import add_months, month_start
from sentinel.db.pools import ShardPools
from sentinel.db.tenancy import Tenant, TenantRouter
from sentinel.devices import queries as device_queries
from sentinel.ingest import queries
from sentinel.ingest.metrics import IngestMetrics
from sentinel.ingest.payloads import (
    SAMPLE_COLUMNS,
    CommandResultMessage,
    InventoryMessage,
    Message,
    StatusMessage,
    TelemetryMessage,
    Topic,
    parse_topic,
    sample_extra,
)
from sentinel.ingest.receipts import receipt_payload
from sentinel.ingest.source import Incoming
from sentinel.live.events import channel, encode
from sentinel.live.events import publish as publish_event
from sentinel.logging import get_logger
from sentinel.orgs import queries as org_queries
from sentinel.privacy.settings import PrivacySettings
from sentinel.privacy.settings import load as load_privacy

log = get_logger(__name__)
INVENTORY_MAX_BYTES = 256 * 1024
FUTURE_TOLERANCE = timedelta(minutes=10)


class OrgMovingError(Exception):
    """Writes wait (unacknowledged, so nothing is lost) while the organization moves."""


CONNECTION_ERRORS = (
    OrgMovingError,
    OSError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    TimeoutError,
)


MODELS: dict[str, type[Message]] = {
    "telemetry": TelemetryMessage,
    "status": StatusMessage,
    "inventory": InventoryMessage,
    "commands/result": CommandResultMessage,
}


@dataclass
class Accepted:
    item: Incoming
    topic: Topic
    message: Message
    rejected_seqs: list[int] = field(default_factory=list)


@dataclass
class OrgBatch:
    tenant: Tenant
    started: float
    messages: list[Accepted] = field(default_factory=list)
    samples: int = 0
    attempts: int = 0
    not_before: float = 0.0


class DeviceCache:
    """Device status and shard from the control plane, cached briefly."""

    def __init__(self, pools: ShardPools, ttl: float) -> None:
        self.pools = pools
        self.ttl = ttl
        self._entries: dict[tuple[UUID, UUID], tuple[float, str | None, str]] = {}

    async def lookup(self, org_id: UUID, device_id: UUID) -> tuple[str | None, str]:
        key = (org_id, device_id)
        cached = self._entries.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1], cached[2]
        pool = await self.pools.control()
        async with pool.acquire() as conn:
            row = await device_queries.device_state(conn, org_id, device_id)
        status, shard = (row["status"], row["shard"]) if row else (None, "")
        self._entries[key] = (time.monotonic(), status, shard)
        return status, shard


class OrgCache:
    """Each organization's shard and whether it is moving; short-lived, so a move (which
    waits longer than this before copying) never races a write to the old shard."""

    def __init__(self, pools: ShardPools, ttl: float) -> None:
        self.pools = pools
        self.ttl = ttl
        self._entries: dict[UUID, tuple[float, str, bool]] = {}

    async def lookup(self, org_id: UUID) -> tuple[str, bool]:
        cached = self._entries.get(org_id)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1], cached[2]
        pool = await self.pools.control()
        async with pool.acquire() as conn:
            row = await org_queries.shard_state(conn, org_id)
        shard, moving = (row["shard"], row["moving"]) if row else ("", False)
        self._entries[org_id] = (time.monotonic(), shard, moving)
        return shard, moving


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        pools: ShardPools,
        cache: redis.Redis,
        ack: Callable[[Incoming], None],
        publish: Callable[[str, str], None],
        metrics: IngestMetrics,
    ) -> None:
        self.settings = settings
        self.router = TenantRouter(pools)
        self.devices = DeviceCache(pools, settings.device_cache_seconds)
        self.orgs = OrgCache(pools, settings.device_cache_seconds)
        self.cache = cache
        self.ack = ack
        self.publish = publish
        self.metrics = metrics
        self.batches: dict[UUID, OrgBatch] = {}
        self._privacy_cache: dict[UUID, tuple[float, PrivacySettings]] = {}

    # --- validation ---------------------------------------------------------------------

    def _refuse(self, item: Incoming, reason: str) -> None:
        self.metrics.reject(reason, item.topic)
        self.ack(item)

    async def accept(self, item: Incoming) -> None:
        topic = parse_topic(item.topic)
        if topic is None:
            return self._refuse(item, "bad_topic")
        limit = (
            INVENTORY_MAX_BYTES
            if topic.kind == "inventory"
            else self.settings.ingest_max_payload_bytes
        )
        if len(item.payload) > limit:
            return self._refuse(item, "too_large")
        model = MODELS.get(topic.kind, Message)
        try:
            message = model.model_validate_json(item.payload)
        except ValidationError as exc:
            json_error = any(e["type"] == "json_invalid" for e in exc.errors())
            return self._refuse(item, "malformed_json" if json_error else "invalid_schema")
        if message.org_id not in (None, topic.org_id) or message.device_id not in (
            None,
            topic.device_id,
        ):
            return self._refuse(item, "identity_mismatch")
        status, shard = await self.devices.lookup(topic.org_id, topic.device_id)
        if status is None:
            return self._refuse(item, "unknown_device")
        if status != "active":
            return self._refuse(item, "inactive_device")
        accepted = Accepted(item, topic, message)
        if isinstance(message, TelemetryMessage):
            # The organization's retention (`expired`) is applied at write time, where the
            # organization's current shard is known and database errors are handled.
            now = datetime.now(UTC)
            oldest = add_months(month_start(now), -3)
            low = datetime(oldest.year, oldest.month, 1, tzinfo=UTC).timestamp()
            high = (now + FUTURE_TOLERANCE).timestamp()
            for sample in message.samples:
                if not low <= sample.ts <= high:
                    accepted.rejected_seqs.append(sample.seq)
                    self.metrics.reject("clock_skew", item.topic)
        batch = self.batches.get(topic.org_id)
        if batch is None:
            batch = self.batches[topic.org_id] = OrgBatch(
                Tenant(topic.org_id, shard), time.monotonic()
            )
        batch.messages.append(accepted)
        batch.samples += len(message.samples) if isinstance(message, TelemetryMessage) else 1
        return None

    # --- batching -------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        deadlines = [
            max(b.started + self.settings.ingest_batch_seconds, b.not_before)
            for b in self.batches.values()
        ]
        return min(deadlines) if deadlines else None

    async def flush_due(self, force: bool = False) -> None:
        now = time.monotonic()
        for org_id, batch in list(self.batches.items()):
            due = (
                batch.samples >= self.settings.ingest_batch_max
                or now - batch.started >= self.settings.ingest_batch_seconds
            )
            if (force or due) and now >= batch.not_before:
                await self._flush(org_id, batch)

    async def _flush(self, org_id: UUID, batch: OrgBatch) -> None:
        try:
            shard, moving = await self.orgs.lookup(org_id)
            if moving:
                raise OrgMovingError(str(org_id))
            if shard and shard != batch.tenant.shard:  # the organization moved meanwhile
                batch.tenant = Tenant(org_id, shard)
            await self._write(batch.tenant, batch.messages)
        except CONNECTION_ERRORS as exc:
            batch.attempts += 1
            batch.not_before = time.monotonic() + min(10.0, 0.5 * 2**batch.attempts)
            log.warning(
                "batch write failed; will retry",
                org_id=str(org_id),
                error=exc.__class__.__name__,
                attempt=batch.attempts,
            )
            return
        except asyncpg.PostgresError as exc:
            log.error(
                "batch refused by the database; retrying message by message",
                org_id=str(org_id),
                error=exc.__class__.__name__,
            )
            del self.batches[org_id]
            await self._write_one_by_one(batch)
            return
        del self.batches[org_id]

    async def _write_one_by_one(self, batch: OrgBatch) -> None:
        for accepted in batch.messages:
            try:
                await self._write(batch.tenant, [accepted])
            except CONNECTION_ERRORS:
                # Not acknowledged: the broker redelivers it after we reconnect.
                log.warning("message write failed; left for redelivery", topic=accepted.item.topic)
            except asyncpg.PostgresError:
                self._refuse(accepted.item, "write_failed")

    async def _privacy(self, tenant: Tenant) -> PrivacySettings:
        cached = self._privacy_cache.get(tenant.org_id)
        if cached is not None and time.monotonic() - cached[0] < self.settings.device_cache_seconds:
            return cached[1]
        async with self.router.transaction(tenant) as conn:
            privacy = await load_privacy(conn)
        self._privacy_cache[tenant.org_id] = (time.monotonic(), privacy)
        return privacy

    async def _write(self, tenant: Tenant, messages: list[Accepted]) -> None:
        privacy = await self._privacy(tenant)
        # Older than the organization keeps telemetry: refused per sample (the receipt tells the
        # agent to forget them). Retention may already have dropped their partition, and an
        # insert there would fail the whole batch — and every resend of the agent after it.
        horizon = time.time() - privacy.telemetry_retention_days * 86_400
        expired: list[str] = []
        columns: list[list[Any]] = [[] for _ in range(3 + len(SAMPLE_COLUMNS) + 1)]
        stored: dict[UUID, list[int]] = {}
        rejected: dict[UUID, list[int]] = {}
        latest: dict[UUID, tuple[float, int, dict[str, Any]]] = {}
        presence: list[tuple[UUID, bool, str | None]] = []
        inventories: list[tuple[UUID, dict[str, Any]]] = []
        results: list[tuple[UUID, CommandResultMessage]] = []
        for accepted in messages:
            device_id, message = accepted.topic.device_id, accepted.message
            if isinstance(message, TelemetryMessage):
                skip = set(accepted.rejected_seqs)
                for sample in message.samples:
                    if sample.ts < horizon and sample.seq not in skip:
                        skip.add(sample.seq)
                        expired.append(accepted.item.topic)
                rejected.setdefault(device_id, []).extend(skip)
                for sample in message.samples:
                    if sample.seq in skip:
                        continue
                    values = sample.model_dump(include=set(SAMPLE_COLUMNS))
                    columns[0].append(device_id)
                    columns[1].append(sample.seq)
                    columns[2].append(datetime.fromtimestamp(sample.ts, UTC))
                    for i, name in enumerate(SAMPLE_COLUMNS):
                        columns[3 + i].append(values[name])
                    columns[-1].append(
                        sample_extra(sample, keep_user_names=privacy.collect_user_names)
                    )
                    stored.setdefault(device_id, []).append(sample.seq)
                    current = latest.get(device_id)
                    if current is None or sample.ts >= current[0]:
                        metrics = {k: v for k, v in values.items() if v is not None}
                        latest[device_id] = (sample.ts, sample.seq, metrics)
            elif isinstance(message, StatusMessage):
                presence.append((device_id, message.state == "online", message.agent_version))
            elif isinstance(message, CommandResultMessage):
                results.append((device_id, message))
            elif isinstance(message, InventoryMessage):
                inventory = message.model_dump(
                    exclude={"v", "org_id", "device_id"}, exclude_none=True
                )
                if not privacy.collect_ip_addresses:
                    for interface in inventory.get("network") or []:
                        interface.pop("ips", None)
                inventories.append((device_id, inventory))
        changed_presence: list[tuple[UUID, bool]] = []
        async with self.router.transaction(tenant) as conn:
            new_rows = await queries.insert_telemetry(conn, columns) if columns[0] else 0
            if latest:
                ids = list(latest)
                came_online = await queries.touch_devices(
                    conn,
                    ids,
                    [datetime.fromtimestamp(latest[d][0], UTC) for d in ids],
                    [latest[d][1] for d in ids],
                    [latest[d][2] for d in ids],
                )
                changed_presence.extend((device_id, True) for device_id in came_online)
            for device_id, online, version in presence:
                if await queries.set_presence(conn, device_id, online, version):
                    changed_presence.append((device_id, online))
            for device_id, inventory in inventories:
                await queries.store_inventory(conn, device_id, inventory)
            finished = [
                (device_id, result)
                for device_id, result in results
                if await command_queries.record_result(
                    conn, result.id, device_id, result.status, result.output
                )
            ]
            if new_rows or changed_presence:
                # The worker evaluates this organization's alert rules once the batch commits.
                await queries.wake_alerts(conn, tenant.org_id)
        # Committed: now, and only now, tell devices and the broker.
        prefix = f"sentinel/{tenant.org_id}/devices"
        for device_id in stored.keys() | rejected.keys():
            self.publish(
                f"{prefix}/{device_id}/receipts",
                receipt_payload(stored.get(device_id, ()), rejected.get(device_id, ())),
            )
        for accepted in messages:
            self.ack(accepted.item)
        for topic in expired:  # counted once the write has happened, never per attempt
            self.metrics.reject("expired", topic)
        total = len(columns[0])
        self.metrics.count("samples.stored", new_rows)
        self.metrics.count("samples.duplicate", total - new_rows)
        self.metrics.count("messages.accepted", len(messages))
        await self._live(tenant.org_id, latest, changed_presence)
        for device_id, result in finished:
            await publish_event(
                self.cache,
                tenant.org_id,
                "command",
                device_id=device_id,
                command_id=result.id,
                status=result.status,
            )

    async def _live(
        self,
        org_id: UUID,
        latest: dict[UUID, tuple[float, int, dict[str, Any]]],
        presence: list[tuple[UUID, bool]],
    ) -> None:
        if not latest and not presence:
            return
        with contextlib.suppress(redis.RedisError):
            async with self.cache.pipeline(transaction=False) as pipe:
                for device_id, (ts, seq, metrics) in latest.items():
                    pipe.publish(
                        channel(org_id),
                        encode("telemetry", device_id=device_id, ts=ts, seq=seq, metrics=metrics),
                    )
                for device_id, online in presence:
                    pipe.publish(
                        channel(org_id), encode("presence", device_id=device_id, online=online)
                    )
                await pipe.execute()


async def drain(
    queue: asyncio.Queue[Incoming], pipeline: Pipeline, stop: asyncio.Event, max_burst: int = 5000
) -> None:
    """The ingest loop: take messages until the next batch deadline, flush what is due."""
    while not stop.is_set():
        deadline = pipeline.next_deadline()
        timeout = 0.5 if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            item = await asyncio.wait_for(queue.get(), timeout=timeout)
        except TimeoutError:
            pass
        else:
            await _accept(pipeline, item, stop)
            for _ in range(max_burst):
                try:
                    await _accept(pipeline, queue.get_nowait(), stop)
                except asyncio.QueueEmpty:
                    break
        await pipeline.flush_due()
    await pipeline.flush_due(force=True)


async def _accept(pipeline: Pipeline, item: Incoming, stop: asyncio.Event) -> None:
    """Accept one message; nothing about one message may stop ingest. While the control
    database cannot be reached the message waits (unacknowledged); anything else unexpected
    refuses it, counted and logged as `internal_error`."""
    delay = 0.5
    while True:
        try:
            await pipeline.accept(item)
            return
        except CONNECTION_ERRORS as exc:
            log.warning(
                "device lookup failed; will retry",
                error=exc.__class__.__name__,
                topic=item.topic,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return  # not acknowledged: the broker delivers it again
            delay = min(10.0, delay * 2)
        except Exception as exc:
            log.error("message could not be processed", error=exc.__class__.__name__)
            pipeline._refuse(item, "internal_error")
            return
