"""The worker process: periodic and event-driven jobs until SIGTERM/SIGINT.

Jobs: heartbeat (liveness in Redis), broker credential sync (LISTEN/NOTIFY, debounced),
telemetry partition upkeep (created ahead of time), and the offline sweep (devices that went
silent without a Last Will, e.g. across a broker restart, are marked offline).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable

import redis.asyncio as redis

from sentinel.alerts.worker import run_alerts
from sentinel.broker.probe import BrokerEndpoint
from sentinel.broker.sync import BrokerCredentialSync
from sentinel.commands.dispatch import run_dispatcher
from sentinel.config import Settings
from sentinel.db.pools import ShardPools
from sentinel.db.tenancy import TenantRouter
from sentinel.logging import get_logger
from sentinel.stack.mosquitto import SERVICE_USERNAME
from sentinel.stack.secrets import load_secrets
from sentinel.worker import maintenance
from sentinel.worker.heartbeat import HEARTBEAT_KEY, heartbeat_ttl

log = get_logger(__name__)


async def every(
    seconds: float, stop: asyncio.Event, job: Callable[[], Awaitable[object]], name: str
) -> None:
    """Run `job` now and then every `seconds` until `stop`; a failing run is logged, not fatal."""
    while not stop.is_set():
        try:
            await job()
        except Exception as exc:
            log.error("job failed", job=name, error=exc.__class__.__name__, detail=str(exc)[:200])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)


async def run_worker(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    secrets = load_secrets(settings.secrets_dir)
    client = redis.Redis(
        host="127.0.0.1", port=settings.redis_port, password=secrets.redis_password
    )
    # Three LISTEN connections (broker sync, commands, alerts) plus the jobs' own.
    app_pools = ShardPools(settings, "app", max_size=12)
    owner_pools = ShardPools(settings, "owner", max_size=2)
    router = TenantRouter(app_pools)
    sync = BrokerCredentialSync(settings, await app_pools.control())
    interval = settings.worker_heartbeat_seconds
    broker = BrokerEndpoint(
        "127.0.0.1", settings.mqtt_internal_port, SERVICE_USERNAME, secrets.mqtt_service_password
    )

    async def beat() -> None:
        await client.set(HEARTBEAT_KEY, os.getpid(), ex=heartbeat_ttl(interval))

    log.info("worker started", pid=os.getpid())
    try:
        async with asyncio.TaskGroup() as jobs:
            jobs.create_task(every(interval, stop, beat, "heartbeat"))
            jobs.create_task(sync.run(stop))
            jobs.create_task(run_dispatcher(app_pools, router, broker, stop))
            jobs.create_task(run_alerts(settings, app_pools, router, client, stop))
            jobs.create_task(
                every(600, stop, lambda: maintenance.partitions(owner_pools), "upkeep")
            )
            jobs.create_task(
                every(
                    30,
                    stop,
                    lambda: maintenance.offline_sweep(app_pools, router, client, settings),
                    "offline_sweep",
                )
            )
    finally:
        with contextlib.suppress(redis.RedisError):
            await client.delete(HEARTBEAT_KEY)
        await client.aclose()
        await app_pools.close()
        await owner_pools.close()
        log.info("worker stopped")
