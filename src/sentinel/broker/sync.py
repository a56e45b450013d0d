"""Broker credential sync: PostgreSQL is the source of truth for device credentials; the
broker's password file is generated from it, replaced atomically, and Mosquitto is told to
reload with SIGHUP — debounced, so a burst of enrollments costs one reload. On reload
Mosquitto 2 re-checks every connected client, so a revoked device is cut off within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import asyncpg

from sentinel.broker.passwords import reload_broker, render_password_file, write_password_file
from sentinel.config import Settings
from sentinel.devices import queries
from sentinel.logging import get_logger
from sentinel.stack.files import service_user
from sentinel.stack.mosquitto import broker_pid_file, device_password_file

log = get_logger(__name__)
CHANNEL = "sentinel_broker_credentials"
DEBOUNCE_SECONDS = 0.2
FULL_RECONCILE_SECONDS = 60.0


class BrokerCredentialSync:
    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.password_file: Path = device_password_file(settings)
        self.pid_file: Path = broker_pid_file(settings)
        self.owner = service_user("mosquitto")
        self.reloads = 0

    async def reconcile(self) -> bool:
        """Make the password file match PostgreSQL; reload the broker if it changed."""
        async with self.pool.acquire() as conn:
            rows = await queries.active_broker_credentials(conn)
        wanted = render_password_file((r["broker_username"], r["broker_hash"]) for r in rows)
        try:
            current = self.password_file.read_text()
        except FileNotFoundError:
            current = None
        if current == wanted:
            return False
        write_password_file(
            self.password_file, [(r["broker_username"], r["broker_hash"]) for r in rows], self.owner
        )
        try:
            reload_broker(int(self.pid_file.read_text().strip()))
        except (FileNotFoundError, ValueError, ProcessLookupError) as exc:
            log.warning("broker not reloaded", error=exc.__class__.__name__)
            return True
        self.reloads += 1
        log.info("broker credentials reloaded", devices=len(rows))
        return True

    async def run(self, stop: asyncio.Event) -> None:
        wake = asyncio.Event()

        def on_notify(*_: object) -> None:
            wake.set()

        listener = await self.pool.acquire()
        try:
            await listener.add_listener(CHANNEL, on_notify)
            await self._reconcile_logged()
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(wake, stop), FULL_RECONCILE_SECONDS)
                if stop.is_set():
                    break
                await asyncio.sleep(DEBOUNCE_SECONDS)  # let a burst of changes land
                wake.clear()
                await self._reconcile_logged()
        finally:
            with contextlib.suppress(Exception):
                await listener.remove_listener(CHANNEL, on_notify)
            await self.pool.release(listener)

    async def _reconcile_logged(self) -> None:
        try:
            await self.reconcile()
        except (asyncpg.PostgresError, OSError) as exc:
            log.error("broker credential sync failed", error=exc.__class__.__name__)


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
