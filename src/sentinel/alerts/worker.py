"""The worker's alert jobs: evaluate organizations when ingest reports new data (NOTIFY per
committed batch, debounced) and on a timer (offline and duration rules need time to pass), and
deliver notifications when woken and on a short retry timer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from uuid import UUID

import redis.asyncio as redis

from sentinel.alerts.engine import run_evaluation
from sentinel.alerts.notify import dispatch_org
from sentinel.alerts.queries import NOTIFY_CHANNEL
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
            await asyncio.gather(
                *(dispatch_org(settings, router, tenants[o]) for o in deliver & set(tenants)),
                return_exceptions=True,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_either(wake, stop), timeout=1.0)
            if wake.is_set():
                await asyncio.sleep(DEBOUNCE)  # gather a burst of batches into one evaluation
                wake.clear()
    finally:
        with contextlib.suppress(Exception):
            await listener.remove_listener(DATA_CHANNEL, on_data)
            await listener.remove_listener(NOTIFY_CHANNEL, on_notification)
        await (await pools.control()).release(listener)


async def _either(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
