"""Broker credential sync: PostgreSQL is the source of truth for device credentials; the
broker's password file is generated from it, replaced atomically, and Mosquitto is told to
reload with SIGHUP — debounced, so a burst of enrollments costs one reload. On reload
Mosquitto 2 re-checks every connected client, so a revoked device is cut off within seconds.

Several processes reconcile (the worker on every change, organization erasure and the
operator's `broker-sync` right away), so `reconcile` holds an exclusive lock from reading the
database to sending SIGHUP: a caller that read the database earlier can never replace a newer
file. It keeps the lock `RELOAD_SETTLE_SECONDS` after each SIGHUP, because Mosquitto 2.0's
SIGHUP handler only sets a flag that the main loop clears *after* reloading: a second SIGHUP
arriving during a reload is lost, and with it the credentials that file version changed, until
some later change reloads again (measured on 2.0.11 with two write+SIGHUP rounds a few
milliseconds apart).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
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
RELOAD_SETTLE_SECONDS = 0.5
FULL_RECONCILE_SECONDS = 60.0


def reconcile_lock_file(settings: Settings) -> Path:
    """Whoever holds an exclusive `flock` on it may rewrite the password file and reload."""
    path = device_password_file(settings)
    return path.with_name(f"{path.name}.lock")


class BrokerCredentialSync:
    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.password_file: Path = device_password_file(settings)
        self.pid_file: Path = broker_pid_file(settings)
        self.owner = service_user("mosquitto")
        self.reloads = 0
        self.lock_file = reconcile_lock_file(settings)

    async def reconcile(self) -> bool:
        """Make the password file match PostgreSQL; reload the broker if it changed."""
        async with self._exclusive():
            async with self.pool.acquire() as conn:
                rows = await queries.active_broker_credentials(conn)
            entries = [(r["broker_username"], r["broker_hash"]) for r in rows]
            wanted = render_password_file(entries)
            try:
                current = self.password_file.read_text()
            except FileNotFoundError:
                current = None
            if current == wanted:
                return False
            write_password_file(self.password_file, entries, self.owner)
            try:
                reload_broker(int(self.pid_file.read_text().strip()))
            except (FileNotFoundError, ValueError, ProcessLookupError) as exc:
                log.warning("broker not reloaded", error=exc.__class__.__name__)
                return True
            self.reloads += 1
            log.info("broker credentials reloaded", devices=len(rows))
            await asyncio.sleep(RELOAD_SETTLE_SECONDS)  # no SIGHUP while Mosquitto reloads
            return True

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        """An exclusive `flock` on the lock file, shared by every process that reconciles."""
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.02)
            yield
        finally:
            os.close(fd)  # releases the lock

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
