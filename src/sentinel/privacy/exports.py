"""Exporting everything an organization holds: devices, inventory, telemetry for a chosen
range, alerts, the audit log and members, as JSON Lines and CSV with a manifest of row counts
and SHA-256 checksums, zipped. Built in the background with progress; downloadable once,
through a link with a single-use token that expires; the export itself is audit-logged."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from sentinel.db.tenancy import Tenant, TenantRouter

EXPIRY = timedelta(hours=24)
DATASETS: dict[str, str] = {
    "devices": """SELECT id, name, hostname, group_id, tags, notes, asset_tag, status,
                         enrolled_at, last_seen_at, os_name, os_version, agent_version
                  FROM devices ORDER BY id""",
    "inventory": "SELECT id AS device_id, inventory_at, inventory FROM devices "
    "WHERE inventory IS NOT NULL ORDER BY id",
    "device_groups": "SELECT id, parent_id, name, created_at FROM device_groups ORDER BY id",
    "telemetry": """SELECT device_id, seq, ts, cpu_pct, load1, mem_pct, swap_pct, disk_pct,
                           disk_read_bps, disk_write_bps, net_rx_bps, net_tx_bps, battery_pct,
                           charging, temp_c, uptime_s, users, extra
                    FROM telemetry WHERE ts >= $1 AND ts < $2 ORDER BY device_id, ts, seq""",
    "alerts": """SELECT id, rule_id, device_id, state, severity, title, value, since, opened_at,
                        acknowledged_at, resolved_at FROM alerts WHERE state <> 'pending'
                 ORDER BY opened_at, id""",
    "audit_log": """SELECT id, at, actor_type, actor_id, actor_label, action, target_type,
                           target_id, host(source_ip) AS source_ip, before, after
                    FROM audit_log ORDER BY id""",
    "commands": """SELECT id, device_id, name, args, status, created_by, created_at, expires_at,
                          sent_at, finished_at, output FROM commands ORDER BY created_at, id""",
    "alert_rules": """SELECT id, name, kind, metric, operator, threshold, duration_s, scope_type,
                             scope_id, severity, respect_school_hours, channel_ids, enabled,
                             created_at, updated_at FROM alert_rules ORDER BY created_at, id""",
    # Without the webhook signing secrets: they are credentials, not the school's data.
    "notification_channels": """SELECT id, name, kind, config, rate_per_minute, enabled,
                                       created_at FROM notification_channels
                                ORDER BY created_at, id""",
    "settings": "SELECT key, value FROM settings ORDER BY key",
}


def _json_default(value: Any) -> Any:
    """Times as ISO 8601 (as in the CSV files), anything else (ids, addresses) as text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, default=_json_default, sort_keys=True)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


class _Writer:
    """One dataset as JSON Lines and CSV, hashing as it writes."""

    def __init__(self, directory: Path, name: str) -> None:
        self.name = name
        self.jsonl = (directory / f"{name}.jsonl").open("w", encoding="utf-8")
        self.csv_file = (directory / f"{name}.csv").open("w", encoding="utf-8", newline="")
        self.csv = csv.writer(self.csv_file)
        self.rows = 0
        self.header: list[str] | None = None

    def write(self, row: dict[str, Any]) -> None:
        if self.header is None:
            self.header = list(row)
            self.csv.writerow(self.header)
        self.jsonl.write(json.dumps(row, default=_json_default, sort_keys=True) + "\n")
        self.csv.writerow([_cell(row[k]) for k in self.header])
        self.rows += 1

    def close(self) -> None:
        self.jsonl.close()
        self.csv_file.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ExportRange:
    start: datetime
    end: datetime


async def build_archive(
    router: TenantRouter,
    tenant: Tenant,
    members: list[dict[str, Any]],
    window: ExportRange,
    target: Path,
    progress: Callable[[float], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """Write the archive to `target`; returns the manifest (also inside the archive)."""
    work = Path(tempfile.mkdtemp(prefix="sentinel-export-"))
    try:
        files: dict[str, Any] = {}
        steps = len(DATASETS) + 1
        for index, (name, sql) in enumerate(DATASETS.items()):
            writer = _Writer(work, name)
            async with router.transaction(tenant) as conn:
                args = (window.start, window.end) if name == "telemetry" else ()
                async for record in conn.cursor(sql, *args, prefetch=2000):
                    writer.write(dict(record))
            writer.close()
            for kind in ("jsonl", "csv"):
                path = work / f"{name}.{kind}"
                files[path.name] = {"rows": writer.rows, "sha256": _sha256(path)}
            if progress is not None:
                await progress((index + 1) / steps)
        writer = _Writer(work, "members")
        for member in members:
            writer.write(member)
        writer.close()
        for kind in ("jsonl", "csv"):
            path = work / f"members.{kind}"
            files[path.name] = {"rows": writer.rows, "sha256": _sha256(path)}
        manifest = {
            "organization_id": str(tenant.org_id),
            "generated_at": datetime.now(UTC).isoformat(),
            "telemetry_range": {"from": window.start.isoformat(), "to": window.end.isoformat()},
            "format": "Each dataset as JSON Lines and CSV; rows counted, SHA-256 per file.",
            "files": files,
        }
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2))
        await asyncio.to_thread(_zip, work, target)
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _zip(directory: Path, target: Path) -> None:
    """Zip into `target`, readable by its owner only from the first byte on. A directory that
    has to be created is private; an existing one (an operator's `--output` directory, even
    `/tmp`) keeps its permissions."""
    if not target.parent.is_dir():
        target.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with (
            os.fdopen(fd, "wb") as handle,
            zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        ):
            for path in sorted(directory.iterdir()):
                archive.write(path, arcname=path.name)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


async def expire(conn: asyncpg.Connection, exports_dir: Path) -> list[UUID]:
    """Inside a transaction on the tenant's schema (the app's tenant transaction or the owner's
    `scope_to_schema`): every export past its expiry that was never downloaded is marked
    `expired` and its archive (or a half-written one) deleted from `exports_dir` — the
    organization's directory under `<data_dir>/exports/`. Returns the ids."""
    rows = await conn.fetch(
        """UPDATE exports SET status = 'expired', finished_at = coalesce(finished_at, now())
           WHERE status IN ('building', 'ready', 'failed') AND expires_at <= now()
           RETURNING id"""
    )
    expired = [row["id"] for row in rows]
    for export_id in expired:
        for name in (f"{export_id}.zip", f".{export_id}.zip.partial"):
            (exports_dir / name).unlink(missing_ok=True)
    return expired


async def members_of(conn: asyncpg.Connection, org_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT u.id AS user_id, u.email, m.role, m.created_at FROM control.memberships m
           JOIN control.users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.email""",
        org_id,
    )
    return [dict(r) for r in rows]
