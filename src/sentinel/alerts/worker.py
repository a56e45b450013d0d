"""The worker's alert jobs: evaluate organizations when ingest reports new data (NOTIFY per
committed batch, debounced) and on a timer (offline and duration rules need time to pass), and
deliver notifications when woken and on a short retry timer.

Deliveries run as background tasks, at most one per channel at a time: a receiver that hangs
until its timeout never holds up evaluation or any other channel's notifications."""

from __future__ import annotations

import asyncio
import contextlib
import time
from uuid import UUID

import redis.asyncio as redis

from sentinel.alerts.engine import run_evaluation
from sentinel.alerts.notify import dispatch_channel
from sentinel.alerts.queries import NOTIFY_CHANNEL, channels
from sentinel.config import Settings
from sentinel.db.pools import ShardPools
from sentinel.db.tenancy import Tenant, TenantRouter
from sentinel.logging import get_logger
from sentinel.worker.maintenance import all_tenants

log = get_logger(__name__)
DATA_CHANNEL = "sentinel_alerts"
DEBOUNCE = 1.0
DISPATCH_SWEEP = 5.0


async def run_alerts(
    settings: Settings,
    pools: ShardPools,
    router: TenantRouter,
    cache: redis.Redis,
    stop: asyncio.Event,
) -> None:
    dirty: set[UUID] = set()
    to_dispatch: set[UUID] = set()
    sending: dict[UUID, asyncio.Task[None]] = {}
    wake = asyncio.Event()

    def on_data(_c: object, _p: object, _ch: object, payload: object) -> None:
        with contextlib.suppress(ValueError):
            dirty.add(UUID(str(payload)))
            wake.set()

    def on_notification(_c: object, _p: object, _ch: object, payload: object) -> None:
        with contextlib.suppress(ValueError):
            to_dispatch.add(UUID(str(payload)))
            wake.set()

    listener = await (await pools.control()).acquire()
    await listener.add_listener(DATA_CHANNEL, on_data)
    await listener.add_listener(NOTIFY_CHANNEL, on_notification)
    next_sweep = next_dispatch = 0.0
    try:
        while not stop.is_set():
            now = time.monotonic()
            tenants: dict[UUID, Tenant] = {}
            if now >= next_sweep or now >= next_dispatch or dirty or to_dispatch:
                tenants = {t.org_id: t for t in await all_tenants(pools)}
            evaluate = set(tenants) if now >= next_sweep else set(dirty)
            if now >= next_sweep:
                next_sweep = now + settings.alert_eval_seconds
            dirty.clear()
            for org_id in evaluate & set(tenants):
                try:
                    await run_evaluation(router, cache, tenants[org_id])
                except Exception as exc:
                    log.error(
                        "alert evaluation failed",
                        org_id=str(org_id),
                        error=exc.__class__.__name__,
                        detail=str(exc)[:200],
                    )
            deliver = set(tenants) if now >= next_dispatch else set(to_dispatch)
            if now >= next_dispatch:
                next_dispatch = now + DISPATCH_SWEEP
            to_dispatch.clear()
            for channel_id in [c for c, task in sending.items() if task.done()]:
                del sending[channel_id]
            for org_id in deliver & set(tenants):
                tenant = tenants[org_id]
                try:
                    channel_ids = await _enabled_channels(router, tenant)
                except Exception as exc:
                    log.error("channel listing failed", org_id=str(org_id), error=str(exc)[:200])
                    continue
                for channel_id in channel_ids:
                    if channel_id in sending:
                        to_dispatch.add(org_id)  # still sending: look again once it is done
                        continue
                    sending[channel_id] = asyncio.create_task(
                        _deliver(settings, router, tenant, channel_id)
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_either(wake, stop), timeout=1.0)
            if wake.is_set():
                await asyncio.sleep(DEBOUNCE)  # gather a burst of batches into one evaluation
                wake.clear()
    finally:
        for task in sending.values():
            task.cancel()  # what was claimed and not sent is sent again once the claim expires
        await asyncio.gather(*sending.values(), return_exceptions=True)
        with contextlib.suppress(Exception):
            await listener.remove_listener(DATA_CHANNEL, on_data)
            await listener.remove_listener(NOTIFY_CHANNEL, on_notification)
        await (await pools.control()).release(listener)


async def _enabled_channels(router: TenantRouter, tenant: Tenant) -> list[UUID]:
    async with router.transaction(tenant) as conn:
        return [c["id"] for c in await channels(conn, enabled_only=True)]


async def _deliver(
    settings: Settings, router: TenantRouter, tenant: Tenant, channel_id: UUID
) -> None:
    try:
        await dispatch_channel(settings, router, tenant, channel_id)
    except Exception as exc:
        log.error(
            "notification dispatch failed",
            org_id=str(tenant.org_id),
            channel_id=str(channel_id),
            error=exc.__class__.__name__,
            detail=str(exc)[:200],
        )


async def _either(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
