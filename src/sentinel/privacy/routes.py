"""`/api/v1/orgs/{org_id}/privacy`, `/exports` and `/api/v1/deletion-receipts/{id}`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from starlette.background import BackgroundTask

from sentinel.api.deps import Res
from sentinel.auth.principal import CurrentUser
from sentinel.authz.guard import OrgContext, require
from sentinel.authz.permissions import Permission
from sentinel.privacy import service
from sentinel.privacy.settings import PrivacySettings

router = APIRouter(prefix="/api/v1", tags=["privacy"])
OrgRead = Annotated[OrgContext, require(Permission.ORG_READ)]
PrivacyWrite = Annotated[OrgContext, require(Permission.PRIVACY_WRITE)]
ExportsRead = Annotated[OrgContext, require(Permission.EXPORTS_READ)]
ExportsWrite = Annotated[OrgContext, require(Permission.EXPORTS_WRITE)]


class ExportRequest(BaseModel):
    """The telemetry range of an export (default: the 30 days up to now). A time without an
    offset means UTC; an empty or inverted range is refused rather than silently exported as
    no telemetry at all."""

    model_config = ConfigDict(extra="forbid")
    telemetry_from: datetime | None = None
    telemetry_to: datetime | None = None

    @field_validator("telemetry_from", "telemetry_to")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> ExportRequest:
        end = self.telemetry_to or datetime.now(UTC)
        if self.telemetry_from is not None and self.telemetry_from >= end:
            raise ValueError("telemetry_from must be before telemetry_to (default: now)")
        return self


@router.get("/orgs/{org_id}/privacy")
async def get_privacy(ctx: OrgRead, res: Res) -> dict[str, Any]:
    return await service.get_privacy(res, ctx)


@router.put("/orgs/{org_id}/privacy")
async def set_privacy(body: PrivacySettings, ctx: PrivacyWrite, res: Res) -> dict[str, Any]:
    return await service.set_privacy(res, ctx, body)


@router.post("/orgs/{org_id}/exports", status_code=status.HTTP_202_ACCEPTED)
async def request_export(body: ExportRequest, ctx: ExportsWrite, res: Res) -> dict[str, Any]:
    return await service.request_export(res, ctx, body.telemetry_from, body.telemetry_to)


@router.get("/orgs/{org_id}/exports/{export_id}")
async def export_status(export_id: UUID, ctx: ExportsRead, res: Res) -> dict[str, Any]:
    return await service.export_status(res, ctx, export_id)


@router.get("/orgs/{org_id}/exports/{export_id}/download")
async def download(
    export_id: UUID,
    ctx: ExportsRead,
    res: Res,
    token: Annotated[str, Query(min_length=10, max_length=200)],
) -> FileResponse:
    path = await service.claim_download(res, ctx, export_id, token)
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"sentinel-export-{export_id}.zip",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


@router.get("/deletion-receipts/{receipt_id}")
async def deletion_receipt(receipt_id: UUID, user: CurrentUser, res: Res) -> dict[str, Any]:
    return await service.deletion_receipt(res, user.user_id, receipt_id)
