"""Enrolling simulated devices through the real enrollment service (in process: an operator
command, so the per-address enrollment rate limit of the public endpoint does not apply).
Credentials are kept in the data directory (0600) so a restarted simulator reuses its fleet.

A virtual device's spool lives in memory, so a restarted simulator learns where each device's
numbering stands from the server (`devices.last_seq`, the highest seq stored): starting again
at 0 would store second rows under seqs the device already used (DESIGN §5)."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from sentinel.api.resources import Resources
from sentinel.config import Settings
from sentinel.db.tenancy import Tenant
from sentinel.devices import queries, service
from sentinel.devices.credentials import issue_enrollment_token
from sentinel.stack.files import write_atomic


@dataclass(frozen=True)
class SimulatedCredential:
    org_id: str
    device_id: str
    username: str
    token: str
    index: int
    next_seq: int = 0  # not stored: asked from the server on every start


def store_path(settings: Settings, org_id: UUID) -> Path:
    return settings.root / "simulator" / f"{org_id}.json"


def load_credentials(settings: Settings, org_id: UUID) -> list[SimulatedCredential]:
    try:
        data = json.loads(store_path(settings, org_id).read_text())
    except FileNotFoundError:
        return []
    return [SimulatedCredential(**{**item, "next_seq": 0}) for item in data]


async def enroll_fleet(settings: Settings, org_id: UUID, count: int) -> list[SimulatedCredential]:
    """Make sure `count` simulated devices exist (still active) and return their credentials."""
    existing = load_credentials(settings, org_id)
    fleet: list[SimulatedCredential] = []
    res = await Resources.open(settings)
    try:
        async with res.pool.acquire() as conn:
            active = {
                str(r["device_id"])
                for r in await conn.fetch(
                    "SELECT device_id FROM control.device_credentials WHERE org_id = $1 "
                    "AND status = 'active'",
                    org_id,
                )
            }
        fleet = [c for c in existing if c.device_id in active][:count]
        missing = count - len(fleet)
        if missing > 0:
            token, digest = issue_enrollment_token()
            async with res.pool.acquire() as conn:
                await queries.insert_enrollment_token(
                    conn,
                    uuid.uuid4(),
                    org_id,
                    digest,
                    "fleet simulator",
                    None,
                    datetime.now(UTC) + timedelta(hours=1),
                    missing,
                    None,
                )
            start = max((c.index for c in existing), default=-1) + 1
            for index in range(start, start + missing):
                enrolled = await service.enroll(
                    res, token, f"sim-{index:05d}", f"Simulated PC {index:05d}", None
                )
                fleet.append(
                    SimulatedCredential(
                        str(org_id),
                        str(enrolled.device_id),
                        enrolled.username,
                        enrolled.token,
                        index,
                    )
                )
        fleet = await _with_next_seq(res, org_id, fleet)
    finally:
        # Also when enrolling stopped halfway (seat limit, database trouble): every device
        # enrolled so far holds a seat, and only its stored credential lets a rerun reuse it.
        _store(settings, org_id, existing + fleet)
        await res.close()
    return fleet


def _store(settings: Settings, org_id: UUID, credentials: list[SimulatedCredential]) -> None:
    keep = {c.device_id: c for c in credentials}
    stored = [{k: v for k, v in asdict(c).items() if k != "next_seq"} for c in keep.values()]
    write_atomic(store_path(settings, org_id), json.dumps(stored, indent=1), mode=0o600)


async def _with_next_seq(
    res: Resources, org_id: UUID, fleet: list[SimulatedCredential]
) -> list[SimulatedCredential]:
    async with res.pool.acquire() as conn:
        shard = await conn.fetchval("SELECT shard FROM control.organizations WHERE id = $1", org_id)
    async with res.router.transaction(Tenant(org_id, shard)) as conn:
        rows = await conn.fetch(
            "SELECT id, last_seq FROM devices WHERE id = ANY($1::uuid[])",
            [UUID(c.device_id) for c in fleet],
        )
    last = {str(r["id"]): r["last_seq"] for r in rows if r["last_seq"] is not None}
    return [replace(c, next_seq=last[c.device_id] + 1) if c.device_id in last else c for c in fleet]
