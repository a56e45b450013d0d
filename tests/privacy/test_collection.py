"""Minimal collection by default: what an organization has not enabled is stored nowhere.

With user names and IP addresses off (the default), a device that sends signed-in user names in
its samples and addresses in its inventory anyway has them dropped by ingest: they are in no row
of the organization's schema nor of the control schema, in no log file and in no PostgreSQL file
(tables or write-ahead log). The rest of what it sent is stored, so the scans are not vacuous.
The positive control — an organization whose owner enabled both — finds them exactly where they
belong, which also proves the scans can see them. Agents are told the flags in their config.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from sentinel.config import Settings
from sentinel.stack.launcher import Stack
from tests.fleet import DeviceClient, Enrollment
from tests.privacy.support import (
    School,
    await_for,
    files_containing,
    marker,
    new_school,
    ok,
    owner_db,
    rows_mentioning,
    wait_accepted,
)

SEQS = [1, 2, 3]


def _octet() -> int:
    return 100 + secrets.randbelow(155)  # always three digits: no marker is a prefix of another


def _group() -> str:
    return f"{0x1000 + secrets.randbelow(0xEFFF):x}"  # four hex digits, canonical (no leading 0)


@dataclass(frozen=True)
class Sent:
    """What one device sent that its organization may not want stored."""

    names: list[str]
    ips: list[str]

    @property
    def all(self) -> list[str]:
        return self.names + self.ips


def _send_private_data(settings: Settings, device: Enrollment) -> Sent:
    sent = Sent(
        names=[marker("pupil"), marker("teacher")],
        ips=[
            f"10.{_octet()}.{_octet()}.{_octet()}",
            f"2001:db8:{_group()}:{_group()}::{_group()}",
        ],
    )
    wait_accepted(settings, device)
    client = DeviceClient(settings, device)
    client.connect()
    try:
        client.publish(
            "inventory",
            {
                "v": 1,
                "hostname": "lab-pc-07",
                "os_name": "Linux",
                "network": [
                    {"name": "eth0", "mac": "02:00:5e:10:00:01", "ips": sent.ips},
                    {"name": "lo", "ips": ["127.0.0.1"]},
                ],
            },
        )
        client.send_samples(SEQS, cpu_pct=12.5, users=2, user_names=sent.names)
        client.wait_receipts(set(SEQS))
    finally:
        client.close()
    return sent


async def _stored(settings: Settings, school: School) -> dict[str, Any]:
    """The device's stored inventory and telemetry extras, once the inventory has landed."""
    device_id = school.devices[0].device_id
    async with owner_db(settings) as conn:

        async def inventory() -> Any:
            return await conn.fetchval(
                f"SELECT inventory FROM {school.schema}.devices WHERE id = $1", device_id
            )

        raw = await await_for(inventory, what="the inventory to be stored")
        rows = await conn.fetch(
            f"SELECT seq, cpu_pct, users, extra FROM {school.schema}.telemetry "
            "WHERE device_id = $1 ORDER BY seq",
            device_id,
        )
    return {
        "inventory": json.loads(raw),
        "telemetry": [
            {**dict(r), "extra": None if r["extra"] is None else json.loads(r["extra"])}
            for r in rows
        ],
    }


async def test_disabled_user_names_and_addresses_are_stored_nowhere(
    stack: Stack, https: httpx.Client, ahttps: httpx.AsyncClient, settings: Settings
) -> None:
    off = new_school(https, devices=1)  # the defaults: neither collected
    on = new_school(https, devices=1)
    enable = {"collect_user_names": True, "collect_ip_addresses": True}
    ok(await ahttps.put(on.url("privacy"), json=enable, headers=on.owner.headers))

    # The agents are told what to collect…
    for school, expected in ((off, False), (on, True)):
        token = school.devices[0].token
        config = ok(
            await ahttps.get("/api/v1/agent/config", headers={"Authorization": f"Bearer {token}"})
        )
        assert config["collect_user_names"] is expected
        assert config["collect_ip_addresses"] is expected

    # …and both send everything anyway (as a modified or outdated agent could).
    sent_off = _send_private_data(settings, off.devices[0])
    sent_on = _send_private_data(settings, on.devices[0])
    stored_off = await _stored(settings, off)
    stored_on = await _stored(settings, on)

    # What was allowed is stored (the scans below look at real data, not an empty schema).
    assert [r["seq"] for r in stored_off["telemetry"]] == SEQS
    assert all(r["cpu_pct"] == 12.5 and r["users"] == 2 for r in stored_off["telemetry"])
    assert all(r["extra"] is None for r in stored_off["telemetry"]), stored_off["telemetry"]
    assert stored_off["inventory"]["hostname"] == "lab-pc-07"
    assert stored_off["inventory"]["network"] == [
        {"name": "eth0", "mac": "02:00:5e:10:00:01"},
        {"name": "lo"},
    ]

    async with owner_db(settings) as conn:
        # Disabled: in no row of the organization's schema or of the control plane.
        assert await rows_mentioning(conn, off.schema, sent_off.all) == {}
        assert await rows_mentioning(conn, "control", sent_off.all + sent_on.all) == {}
        # Enabled (positive control): exactly where they belong, and the scan sees them.
        assert await rows_mentioning(conn, on.schema, sent_on.names) == {"telemetry": len(SEQS)}
        assert await rows_mentioning(conn, on.schema, sent_on.ips) == {"devices": 1}
    expected_extra = [{"user_names": sent_on.names}] * len(SEQS)
    assert [r["extra"] for r in stored_on["telemetry"]] == expected_extra
    assert stored_on["inventory"]["network"][0]["ips"] == sent_on.ips

    # No log file of any component holds them, whether collection is enabled or not.
    assert files_containing(settings.logs_dir, sent_off.all + sent_on.all) == {}
    # PostgreSQL's own files (tables, indexes, write-ahead log): the disabled values were never
    # written at all; the enabled ones are there (WAL is flushed at commit), proving the scan.
    clusters = [p for p in settings.root.iterdir() if p.name.startswith("postgres")]
    assert clusters
    written: set[str] = set()
    for cluster in clusters:
        assert files_containing(cluster, sent_off.all) == {}
        written |= {n for hits in files_containing(cluster, sent_on.names).values() for n in hits}
    assert set(sent_on.names) <= written
