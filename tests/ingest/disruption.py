"""Crashing and restarting parts of the shared test stack, and always leaving it healthy."""

from __future__ import annotations

import os
import signal
import time

import redis

from sentinel.ingest.main import READY_KEY
from sentinel.stack.component import Component, StackError
from sentinel.stack.launcher import Stack
from tests.fleet import DeviceClient
from tests.ingest.support import wait_for

START_ATTEMPTS = 5


def start(component: Component) -> None:
    """Spawn and wait until ready. The stack's ports come from the ephemeral range, so while
    the broker is down another process's outgoing connection may briefly hold its port: a
    start that fails is retried a few times."""
    for attempt in range(1, START_ATTEMPTS + 1):
        component.spawn(None)
        try:
            component.wait_ready()
            return
        except StackError:
            component.stop()
            if attempt == START_ATTEMPTS:
                tail = component.log_path.read_text(errors="replace")[-2000:]
                raise StackError(f"{component.name} did not start; log ends:\n{tail}") from None
            time.sleep(0.5 * attempt)


def kill_ingest(stack: Stack, cache: redis.Redis) -> None:
    """SIGKILL: no flush, no acknowledgements, no goodbye to the broker."""
    ingest = stack.ingest[0]
    assert ingest.process is not None
    os.kill(ingest.process.pid, signal.SIGKILL)
    ingest.process.wait()
    cache.delete(READY_KEY.format(ingest.index))  # the dead process's readiness, not the new one's


def start_ingest(stack: Stack, cache: redis.Redis) -> int:
    """Start ingest and wait until this very process (not a predecessor) is on the broker."""
    ingest = stack.ingest[0]
    start(ingest)
    assert ingest.process is not None
    pid = ingest.process.pid
    wait_for(
        lambda: cache.get(READY_KEY.format(ingest.index)) == str(pid).encode(),
        what="the new ingest process connected to the broker",
    )
    return pid


def restart_ingest(stack: Stack, cache: redis.Redis, down_for: float) -> int:
    """Kill, stay down a moment (the broker queues meanwhile), start; returns the new pid."""
    kill_ingest(stack, cache)
    time.sleep(down_for)
    return start_ingest(stack, cache)


def restart_broker(stack: Stack, cache: redis.Redis, ingest_running: bool = True) -> None:
    """A clean broker restart (it saves its persistence on the way down)."""
    stack.mosquitto.stop()
    start(stack.mosquitto)
    if ingest_running:
        cache.delete(READY_KEY.format(stack.ingest[0].index))
        stack.ingest[0].wait_ready()  # ingest is back on the broker (its own reconnect)


def wait_reconnected(device: DeviceClient, connections: int) -> None:
    """After a broker restart: the device has connected again (more than `connections` times)
    and is subscribed to its receipts."""
    wait_for(
        lambda: len(device.connect_results) > connections and device.client.is_connected(),
        what="device reconnected",
    )
    time.sleep(0.2)  # the receipts subscription lands


def ensure_running(stack: Stack) -> None:
    """Leave the shared stack as we found it, whatever happened above."""
    for component in (stack.mosquitto, stack.ingest[0]):
        if not component.alive():
            start(component)
