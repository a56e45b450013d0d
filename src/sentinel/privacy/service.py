"""Privacy rules: owner-only settings, retention status, exports, deletion receipts."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from sentinel.api.problems import NotFound, Problem
from sentinel.api.resources import Resources
from sentinel.audit.service import Actor, record
from sentinel.authz.guard import OrgContext
from sentinel.db.tenancy import Tenant
from sentinel.logging import get_logger
from sentinel.privacy import queries
from sentinel.privacy.exports import EXPIRY, ExportRange, build_archive, members_of
from sentinel.privacy.settings import PrivacySettings, load, store

log = get_logger(__name__)
_building: set[asyncio.Task[None]] = set()
RETENTION_EVERY = timedelta(minutes=10)


class ExportUnavailable(Problem):
    status = 410
    code = "export_unavailable"
    title = "This export is not available (not ready, already downloaded or expired)"


def export_path(res: Resources, org_id: UUID, export_id: UUID) -> Path:
    return res.settings.root / "exports" / str(org_id) / f"{export_id}.zip"


async def get_privacy(res: Resources, ctx: OrgContext) -> dict[str, Any]:
    async with res.router.transaction(ctx.tenant) as conn:
        settings = await load(conn)
        oldest = await queries.oldest(conn)
    return {
        "settings": settings.model_dump(),
        "oldest": oldest,
        "retention": {
            "telemetry_older_than": datetime.now(UTC)
            - timedelta(days=settings.telemetry_retention_days),
            "audit_older_than": datetime.now(UTC) - timedelta(days=settings.audit_retention_days),
            "purge_runs_every_seconds": int(RETENTION_EVERY.total_seconds()),
        },
    }


async def set_privacy(res: Resources, ctx: OrgContext, settings: PrivacySettings) -> dict[str, Any]:
    async with res.router.transaction(ctx.tenant) as conn:
        before = await store(conn, settings)
        await record(
            conn,
            ctx.actor,
            "privacy.updated",
            target_type="settings",
            target_id="privacy",
            before=before,
            after=settings.model_dump(),
        )
    return await get_privacy(res, ctx)


async def request_export(
    res: Resources, ctx: OrgContext, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=30)
    token = secrets.token_urlsafe(32)
    export_id = uuid.uuid4()
    async with res.router.transaction(ctx.tenant) as conn:
        row = await queries.insert_export(
            conn,
            export_id,
            str(ctx.principal.user_id),
            start,
            end,
            hashlib.sha256(token.encode()).digest(),
            datetime.now(UTC) + EXPIRY,
        )
        await record(
            conn,
            ctx.actor,
            "export.requested",
            target_type="export",
            target_id=str(export_id),
            after={"from": start, "to": end},
        )
    async with res.pool.acquire() as conn:
        members = await members_of(conn, ctx.org_id)
    task = asyncio.create_task(_build(res, ctx.tenant, export_id, members, ExportRange(start, end)))
    _building.add(task)
    task.add_done_callback(_building.discard)
    return {
        **dict(row),
        "download_url": f"/api/v1/orgs/{ctx.org_id}/exports/{export_id}/download?token={token}",
    }


async def _build(
    res: Resources,
    tenant: Tenant,
    export_id: UUID,
    members: list[dict[str, Any]],
    window: ExportRange,
) -> None:
    """Build in the background. Whatever goes wrong (the organization may even be deleted
    meanwhile), no archive is left behind that nobody can download."""
    target = export_path(res, tenant.org_id, export_id)

    async def progress(value: float) -> None:
        async with res.router.transaction(tenant) as conn:
            await queries.update_export(conn, export_id, progress=value)

    try:
        manifest = await build_archive(res.router, tenant, members, window, target, progress)
        async with res.router.transaction(tenant) as conn:
            await queries.update_export(
                conn,
                export_id,
                status="ready",
                progress=1.0,
                manifest=manifest,
                finished_at=datetime.now(UTC),
            )
    except Exception as exc:
        target.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            target.parent.rmdir()  # only if empty: e.g. recreated after the org was deleted
        log.error("export failed", export_id=str(export_id), error=exc.__class__.__name__)
        try:
            async with res.router.transaction(tenant) as conn:
                await queries.update_export(
                    conn,
                    export_id,
                    status="failed",
                    error=exc.__class__.__name__,
                    finished_at=datetime.now(UTC),
                )
        except Exception as again:  # the organization is gone, or the database is
            log.error(
                "export failure not recorded",
                export_id=str(export_id),
                error=again.__class__.__name__,
            )


async def export_status(res: Resources, ctx: OrgContext, export_id: UUID) -> dict[str, Any]:
    async with res.router.transaction(ctx.tenant) as conn:
        row = await queries.export(conn, export_id)
    if row is None:
        raise NotFound("No such export.")
    return {k: v for k, v in dict(row).items() if k != "download_sha256"}


async def claim_download(res: Resources, ctx: OrgContext, export_id: UUID, token: str) -> Path:
    """Check the single-use token and claim the download; returns the archive path."""
    async with res.router.transaction(ctx.tenant) as conn:
        row = await queries.export(conn, export_id)
        if row is None:
            raise NotFound("No such export.")
        given = hashlib.sha256(token.encode()).digest()
        if not hmac.compare_digest(given, row["download_sha256"] or b""):
            raise NotFound("No such export.")
        path = export_path(res, ctx.org_id, export_id)
        if not path.is_file() or not await queries.claim_download(conn, export_id):
            raise ExportUnavailable()
        await record(
            conn, ctx.actor, "export.downloaded", target_type="export", target_id=str(export_id)
        )
    return path


async def deletion_receipt(res: Resources, user_id: UUID, receipt_id: UUID) -> dict[str, Any]:
    async with res.pool.acquire() as conn:
        row = await queries.receipt(conn, receipt_id, user_id)
    if row is None:
        raise NotFound("No such deletion receipt.")
    return dict(row)


SYSTEM = Actor("system", None, "retention")
