"""The worker process: runs its periodic jobs until told to stop (SIGTERM/SIGINT)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import redis.asyncio as redis

from sentinel.config import Settings
from sentinel.logging import get_logger
from sentinel.stack.secrets import load_secrets
from sentinel.worker.heartbeat import HEARTBEAT_KEY, heartbeat_ttl

log = get_logger(__name__)


async def run_worker(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = redis.Redis(
        host="127.0.0.1",
        port=settings.redis_port,
        password=load_secrets(settings.secrets_dir).redis_password,
    )
    interval = settings.worker_heartbeat_seconds
    log.info("worker started", pid=os.getpid())
    try:
        while not stop.is_set():
            try:
                await client.set(HEARTBEAT_KEY, os.getpid(), ex=heartbeat_ttl(interval))
            except redis.RedisError as exc:
                log.warning("heartbeat failed", error=exc.__class__.__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        await client.delete(HEARTBEAT_KEY)
        await client.aclose()
        log.info("worker stopped")
