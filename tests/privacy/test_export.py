"""Exports round-trip: everything an organization holds, and nothing of anyone else's.

An organization with members, a device group, two devices with telemetry and inventory and the
alerts their enrollment raised is exported by an admin. The archive is unzipped and checked
against the database independently: every file the manifest lists is there with its SHA-256 and
row count, every row is present both as JSON Lines and as CSV (cell for cell), devices, members,
alerts and the audit log are exactly the organization's, and the telemetry equals the database
rows inside the requested range (a row outside it is left out). Another organization's ids and
member e-mails appear nowhere. The link works exactly once (then 410), a wrong token is 404, the
archive leaves the server once downloaded, a readonly member cannot request an export, another
organization cannot see it, and requesting and downloading are audit-logged. The operator's
`sentinel export` writes the same archive without touching the permissions of its directory.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import httpx

from sentinel.config import Settings
from sentinel.db.tenancy import scope_to_schema
from sentinel.operator import export_org
from sentinel.privacy.exports import expire
from sentinel.stack.launcher import Stack
from tests.fleet import DeviceClient
from tests.privacy.support import (
    School,
    assert_problem,
    await_for,
    new_school,
    ok,
    owner_db,
    wait_accepted,
    wait_for,
)

DATASETS = (
    "devices",
    "inventory",
    "device_groups",
    "telemetry",
    "alerts",
    "audit_log",
    "commands",
    "alert_rules",
    "notification_channels",
    "settings",
    "members",
)
SEQS = list(range(1, 6))


def _send(settings: Settings, school: School, inventory: bool) -> None:
    for index, device in enumerate(school.devices):
        wait_accepted(settings, device)
        client = DeviceClient(settings, device)
        client.connect()
        try:
            if inventory and index == 0:
                client.publish(
                    "inventory",
                    {"v": 1, "hostname": "library-01", "os_name": "Windows", "ram_bytes": 8 << 30},
                )
            client.send_samples(SEQS, cpu_pct=10.5 + index, mem_pct=40.25, users=1)
            client.wait_receipts(set(SEQS))
        finally:
            client.close()


def _read_archive(content: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    return json.loads(files.pop("manifest.json")), files


def _same_cell(cell: str, value: Any) -> bool:
    """A CSV cell carries the same value as the JSON Lines field."""
    if value is None:
        return cell == ""
    if isinstance(value, bool):
        return cell == str(value)
    if isinstance(value, dict | list):
        return bool(json.loads(cell) == value)
    if isinstance(value, int | float):
        return float(cell) == value
    if cell == value:
        return True
    try:
        return datetime.fromisoformat(cell) == datetime.fromisoformat(value)
    except ValueError:
        return False


def _datasets(manifest: dict[str, Any], files: dict[str, bytes]) -> dict[str, list[dict[str, Any]]]:
    """Every dataset's rows, after checking files, checksums, counts and JSONL ↔ CSV."""
    expected = {f"{name}.{kind}" for name in DATASETS for kind in ("jsonl", "csv")}
    assert set(manifest["files"]) == expected
    assert set(files) == expected
    for name, info in manifest["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == info["sha256"], name
    rows: dict[str, list[dict[str, Any]]] = {}
    for name in DATASETS:
        jsonl = [json.loads(line) for line in files[f"{name}.jsonl"].decode().splitlines()]
        table = list(csv.reader(io.StringIO(files[f"{name}.csv"].decode(), newline="")))
        count = manifest["files"][f"{name}.jsonl"]["rows"]
        assert manifest["files"][f"{name}.csv"]["rows"] == count
        assert len(jsonl) == count, name
        assert len(table) == (count + 1 if count else 0), name  # a header, then the rows
        if count:
            header, *body = table
            for record, line in zip(jsonl, body, strict=True):
                assert set(header) == set(record), name
                cells = dict(zip(header, line, strict=True))
                mismatched = [k for k in header if not _same_cell(cells[k], record[k])]
                assert mismatched == [], (name, mismatched, cells, record)
        rows[name] = jsonl
    return rows


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_export_round_trips_and_is_downloadable_once(
    stack: Stack, https: httpx.Client, ahttps: httpx.AsyncClient, settings: Settings
) -> None:
    school = new_school(https, members=True, devices=2)
    other = new_school(https, members=True, devices=1)
    assert school.admin is not None and school.readonly is not None
    assert other.admin is not None and other.readonly is not None
    ok(
        await ahttps.post(
            school.url("device-groups"), json={"name": "Library"}, headers=school.admin.headers
        ),
        201,
    )
    _send(settings, school, inventory=True)
    _send(settings, other, inventory=True)

    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    async with owner_db(settings) as conn:
        # One sample from before the requested range: it must stay out of the export.
        await conn.execute(
            f"INSERT INTO {school.schema}.telemetry (device_id, seq, ts, cpu_pct) "
            "VALUES ($1, 999, $2, 99)",
            school.devices[0].device_id,
            now - timedelta(days=3),
        )

        async def alerts() -> bool:
            count = await conn.fetchval(
                f"SELECT count(*) FROM {school.schema}.alerts WHERE state <> 'pending'"
            )
            return bool(count >= len(school.devices))

        # The built-in "New device enrolled" rule raises one alert per device.
        await await_for(alerts, seconds=30, what="the new-device alerts")

    # A readonly member may not request an export.
    window = {"telemetry_from": start.isoformat(), "telemetry_to": end.isoformat()}
    refused = await ahttps.post(school.url("exports"), json=window, headers=school.readonly.headers)
    assert_problem(refused, 403, "forbidden")
    inverted = {"telemetry_from": end.isoformat(), "telemetry_to": start.isoformat()}
    assert_problem(
        await ahttps.post(school.url("exports"), json=inverted, headers=school.admin.headers),
        422,
        "validation_failed",
    )

    requested = ok(
        await ahttps.post(school.url("exports"), json=window, headers=school.admin.headers), 202
    )
    export_id = requested["id"]
    url = urlsplit(requested["download_url"])
    assert url.path == school.url("exports", export_id, "download")
    [token] = parse_qs(url.query)["token"]

    async def ready() -> dict[str, Any] | None:
        status: dict[str, Any] = ok(
            await ahttps.get(school.url("exports", export_id), headers=school.admin.headers)
        )
        assert status["status"] in ("building", "ready"), status
        return status if status["status"] == "ready" else None

    status = await await_for(ready, seconds=20, what="the export to be built")
    assert status["progress"] == 1.0
    assert "download_sha256" not in status and token not in json.dumps(status)
    archive_file = settings.root / "exports" / school.org_id / f"{export_id}.zip"
    assert archive_file.is_file()
    assert archive_file.stat().st_mode & 0o777 == 0o600

    # Another organization cannot see it or download it, even with the token.
    assert_problem(
        await ahttps.get(school.url("exports", export_id), headers=other.owner.headers),
        404,
        "not_found",
    )
    download = school.url("exports", export_id, "download")
    assert_problem(
        await ahttps.get(download, params={"token": token}, headers=other.owner.headers),
        404,
        "not_found",
    )
    # A wrong token is "not found"; the right one works once, then the link is gone.
    wrong = await ahttps.get(download, params={"token": "x" * 43}, headers=school.admin.headers)
    assert_problem(wrong, 404, "not_found")
    response = await ahttps.get(download, params={"token": token}, headers=school.admin.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    again = await ahttps.get(download, params={"token": token}, headers=school.admin.headers)
    assert_problem(again, 410, "export_unavailable")
    assert_problem(
        await ahttps.get(download, params={"token": "y" * 43}, headers=school.admin.headers),
        404,
        "not_found",
    )
    wait_for(lambda: not archive_file.exists(), what="the downloaded archive to be removed")
    assert (
        ok(await ahttps.get(school.url("exports", export_id), headers=school.admin.headers))[
            "status"
        ]
        == "downloaded"
    )

    manifest, files = _read_archive(response.content)
    assert manifest["organization_id"] == school.org_id
    assert manifest == status["manifest"]
    rows = _datasets(manifest, files)

    # The data matches the database.
    async with owner_db(settings) as conn:
        schema = school.schema
        devices = await conn.fetch(f"SELECT id, name, hostname FROM {schema}.devices")
        inventory = await conn.fetch(
            f"SELECT id, inventory FROM {schema}.devices WHERE inventory IS NOT NULL"
        )
        groups = await conn.fetch(f"SELECT id, name FROM {schema}.device_groups")
        telemetry = await conn.fetch(
            f"""SELECT device_id, seq, ts, cpu_pct, mem_pct, users FROM {schema}.telemetry
                WHERE ts >= $1 AND ts < $2 ORDER BY device_id, ts, seq""",
            start,
            end,
        )
        alerts = await conn.fetch(f"SELECT id, title FROM {schema}.alerts WHERE state <> 'pending'")
        audit = await conn.fetch(f"SELECT id, action, actor_id FROM {schema}.audit_log ORDER BY id")
        rules = await conn.fetch(f"SELECT id, name FROM {schema}.alert_rules")
        kept = await conn.fetch(f"SELECT key, value FROM {schema}.settings")
    assert {(r["id"], r["name"], r["hostname"]) for r in rows["devices"]} == {
        (str(r["id"]), r["name"], r["hostname"]) for r in devices
    }
    assert len(devices) == 2
    assert {r["device_id"]: r["inventory"] for r in rows["inventory"]} == {
        str(r["id"]): json.loads(r["inventory"]) for r in inventory
    }
    assert [(r["id"], r["name"]) for r in rows["device_groups"]] == [
        (str(r["id"]), r["name"]) for r in groups
    ]
    exported = [
        (r["device_id"], r["seq"], _ts(r["ts"]), r["cpu_pct"], r["mem_pct"], r["users"])
        for r in rows["telemetry"]
    ]
    assert exported == [
        (str(r["device_id"]), r["seq"], r["ts"], r["cpu_pct"], r["mem_pct"], r["users"])
        for r in telemetry
    ]
    assert len(exported) == len(SEQS) * 2 and 999 not in {r[1] for r in exported}
    assert {(r["id"], r["title"]) for r in rows["alerts"]} == {
        (str(r["id"]), r["title"]) for r in alerts
    }
    assert len(alerts) >= 2
    exported_audit = [(r["id"], r["action"], r["actor_id"]) for r in rows["audit_log"]]
    assert exported_audit == [
        (r["id"], r["action"], r["actor_id"]) for r in audit if r["id"] <= exported_audit[-1][0]
    ]
    assert ("export.requested", school.admin.id) in {(a, who) for _, a, who in exported_audit}
    assert {(r["id"], r["name"]) for r in rows["alert_rules"]} == {
        (str(r["id"]), r["name"]) for r in rules
    }
    assert {r["key"]: r["value"] for r in rows["settings"]} == {
        r["key"]: json.loads(r["value"]) for r in kept
    }
    assert rows["commands"] == [] and rows["notification_channels"] == []
    assert {(r["email"], r["role"]) for r in rows["members"]} == {
        (school.owner.email, "owner"),
        (school.admin.email, "admin"),
        (school.readonly.email, "readonly"),
    }

    # Nothing of the other organization, anywhere in the archive.
    foreign = [
        other.org_id,
        *(d.device_id for d in other.devices),
        other.owner.email,
        other.admin.email,
        other.readonly.email,
    ]
    leaks = {name: [f for f in foreign if f.encode() in data] for name, data in files.items()}
    assert {name: found for name, found in leaks.items() if found} == {}
    assert school.org_id.encode() in files["audit_log.jsonl"]  # the scan can find an org id

    # Requesting and downloading are in the organization's audit log.
    entries = ok(
        await ahttps.get(
            school.url("audit-log"),
            params={"target_id": export_id},
            headers=school.owner.headers,
        )
    )["items"]
    assert sorted((e["action"], e["actor_id"]) for e in entries) == [
        ("export.downloaded", school.admin.id),
        ("export.requested", school.admin.id),
    ]


async def test_operator_export_leaves_its_directory_alone(
    stack: Stack, https: httpx.Client, ahttps: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    """`sentinel export` (its implementation, in process) into a shared directory."""
    school = new_school(https, devices=1)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    output = shared / "school.zip"
    steps: list[float] = []

    async def progress(value: float) -> None:
        steps.append(value)

    manifest = await export_org(settings, UUID(school.org_id), output, 7, progress)
    assert shared.stat().st_mode & 0o777 == 0o755  # the operator's directory is untouched
    assert output.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in shared.iterdir()) == ["school.zip"]
    assert steps == sorted(steps) and steps[-1] < 1.0 + 1e-9 and len(steps) == len(DATASETS) - 1
    written, files = _read_archive(output.read_bytes())
    assert written == manifest
    rows = _datasets(manifest, files)
    assert {r["id"] for r in rows["devices"]} == {school.devices[0].device_id}
    assert [(m["email"], m["role"]) for m in rows["members"]] == [(school.owner.email, "owner")]
    entries = ok(
        await ahttps.get(
            school.url("audit-log"),
            params={"action": "export.created_by_operator"},
            headers=school.owner.headers,
        )
    )["items"]
    assert len(entries) == 1


async def test_expired_exports_are_deleted_unless_downloaded(
    stack: Stack, https: httpx.Client, ahttps: httpx.AsyncClient, settings: Settings
) -> None:
    """`expire` (for the worker's upkeep) deletes archives nobody downloaded in time; the link
    then answers 410, and an export still within its expiry is untouched."""
    school = new_school(https)

    async def built() -> tuple[str, str]:
        requested = ok(
            await ahttps.post(school.url("exports"), json={}, headers=school.owner.headers), 202
        )

        async def ready() -> bool:
            status = ok(
                await ahttps.get(
                    school.url("exports", requested["id"]), headers=school.owner.headers
                )
            )
            return bool(status["status"] == "ready")

        await await_for(ready, what="the export")
        return requested["id"], parse_qs(urlsplit(requested["download_url"]).query)["token"][0]

    (stale, stale_token), (fresh, fresh_token) = await built(), await built()
    directory = settings.root / "exports" / school.org_id
    async with owner_db(settings) as conn, conn.transaction():
        await scope_to_schema(conn, school.schema)
        await conn.execute(
            "UPDATE exports SET expires_at = now() - interval '1 second' WHERE id = $1", UUID(stale)
        )
        assert await expire(conn, directory) == [UUID(stale)]
    assert not (directory / f"{stale}.zip").exists()
    assert (directory / f"{fresh}.zip").is_file()
    status = ok(await ahttps.get(school.url("exports", stale), headers=school.owner.headers))
    assert status["status"] == "expired"
    gone = await ahttps.get(
        school.url("exports", stale, "download"),
        params={"token": stale_token},
        headers=school.owner.headers,
    )
    assert_problem(gone, 410, "export_unavailable")
    fine = await ahttps.get(
        school.url("exports", fresh, "download"),
        params={"token": fresh_token},
        headers=school.owner.headers,
    )
    assert fine.status_code == 200, fine.text
