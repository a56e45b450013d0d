"""The ingest process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import redis.asyncio as redis

from sentinel.broker.probe import BrokerEndpoint
from sentinel.config import Settings
from sentinel.db.pools import ShardPools
from sentinel.ingest.metrics import IngestMetrics
from sentinel.ingest.pipeline import Pipeline, drain
from sentinel.ingest.source import Incoming, MqttSource
from sentinel.logging import get_logger
from sentinel.stack.mosquitto import SERVICE_USERNAME
from sentinel.stack.secrets import load_secrets

log = get_logger(__name__)
# Set while connected to the broker; the value is the process id, so a readiness check can tell
# this process from a killed predecessor whose key has not expired yet.
READY_KEY = "sentinel:ingest:ready:{}"


async def run_ingest(settings: Settings, index: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    secrets = load_secrets(settings.secrets_dir)
    pools = ShardPools(settings, "app", max_size=4)
    cache = redis.Redis(host="127.0.0.1", port=settings.redis_port, password=secrets.redis_password)
    queue: asyncio.Queue[Incoming] = asyncio.Queue()
    endpoint = BrokerEndpoint(
        "127.0.0.1", settings.mqtt_internal_port, SERVICE_USERNAME, secrets.mqtt_service_password
    )
    source = MqttSource(
        endpoint, f"sentinel-ingest-{index}", loop, queue, shared=settings.ingest_processes > 1
    )
    metrics = IngestMetrics(index)
    pipeline = Pipeline(settings, pools, cache, source.ack, source.publish, metrics)

    async def report() -> None:
        while not stop.is_set():
            await metrics.flush(cache)
            with contextlib.suppress(redis.RedisError):
                if source.connected.is_set():
                    await cache.set(READY_KEY.format(index), str(os.getpid()), ex=5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    await pools.control()  # fail early if the database is unreachable
    source.start()
    log.info("ingest started", index=index)
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(drain(queue, pipeline, stop))
            tasks.create_task(report())
    finally:
        source.stop()
        await metrics.flush(cache)
        with contextlib.suppress(redis.RedisError):
            await cache.delete(READY_KEY.format(index))
        await cache.aclose()
        await pools.close()
        log.info("ingest stopped", index=index)
