"""Helpers of the simulator tests: an organization with room for a large fleet, `sentinel
simulate` run as the operator would (a subprocess with the stack's settings), and per-device
counts read straight from the tenant's telemetry table."""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx

from sentinel.config import Settings
from sentinel.db.connect import connect, pg_target
from sentinel.db.tenancy import tenant_schema
from sentinel.stack.sentinel_processes import settings_env
from tests.people import create_org, signup


async def _raise_seat_limit(settings: Settings, org_id: str, seats: int) -> None:
    conn = await connect(pg_target(settings, "owner"))
    try:
        await conn.execute(
            "UPDATE control.organizations SET seat_limit = $2 WHERE id = $1", UUID(org_id), seats
        )
    finally:
        await conn.close()


def fleet_org(https: httpx.Client, settings: Settings, seats: int) -> str:
    owner = signup(https)
    org_id: str = create_org(https, owner)["id"]
    raise_seat_limit(settings, org_id, seats)
    return org_id


@dataclass(frozen=True)
class SimulateRun:
    summary: dict[str, int]
    returncode: int
    seconds: float
    cpu_seconds: float  # the simulator process's own CPU time (user + system)
    output: str


def simulate(
    settings: Settings, org_id: str, devices: int, interval: float, duration: float
) -> SimulateRun:
    started = time.monotonic()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sentinel",
            "simulate",
            "--org",
            org_id,
            "--devices",
            str(devices),
            "--interval",
            str(interval),
            "--duration",
            str(duration),
        ],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=duration + 240,
        check=False,
    )
    seconds = time.monotonic() - started
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    output = done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    summary: dict[str, int] = json.loads(lines[-1]) if lines else {}
    return SimulateRun(summary, done.returncode, seconds, cpu, output)


@dataclass(frozen=True)
class Stored:
    rows: int
    distinct: int
    devices: int
    per_device: dict[UUID, tuple[int, int, int]]  # rows, min seq, max seq


async def _stored(settings: Settings, org_id: str) -> Stored:
    table = f"{tenant_schema(UUID(org_id))}.telemetry"
    conn = await connect(pg_target(settings, "owner"))
    try:
        totals: Any = await conn.fetchrow(
            f"""SELECT count(*) AS rows, count(DISTINCT (device_id, seq)) AS distinct_,
                       count(DISTINCT device_id) AS devices FROM {table}"""
        )
        per_device = await conn.fetch(
            f"SELECT device_id, count(*), min(seq), max(seq) FROM {table} GROUP BY device_id"
        )
    finally:
        await conn.close()
    return Stored(
        totals["rows"],
        totals["distinct_"],
        totals["devices"],
        {r[0]: (r[1], r[2], r[3]) for r in per_device},
    )


def stored(settings: Settings, org_id: str) -> Stored:
    return asyncio.run(_stored(settings, org_id))


def raise_seat_limit(settings: Settings, org_id: str, seats: int) -> None:
    asyncio.run(_raise_seat_limit(settings, org_id, seats))


async def _device_count(settings: Settings, org_id: str) -> int:
    conn = await connect(pg_target(settings, "owner"))
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM control.device_credentials WHERE org_id = $1", UUID(org_id)
        )
    finally:
        await conn.close()
    return count


def device_count(settings: Settings, org_id: str) -> int:
    """Devices the organization has enrolled (seats in use)."""
    return asyncio.run(_device_count(settings, org_id))
