"""`GET /api/v1/orgs/{org_id}/audit-log`: filters and keyset (cursor) pagination."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from sentinel.api.deps import Res
from sentinel.audit import queries
from sentinel.authz.guard import AuditRead

router = APIRouter(prefix="/api/v1", tags=["audit"])
MAX_BIGINT = 2**63 - 1  # entry ids are bigint; a larger cursor is invalid, not a crash


def _aware(moment: datetime | None) -> datetime | None:
    """A time without an offset means UTC, whatever the server's local time zone is."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


@router.get("/orgs/{org_id}/audit-log")
async def audit_log(
    ctx: AuditRead,
    res: Res,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_BIGINT)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    action: Annotated[str | None, Query(max_length=100)] = None,
    actor_id: Annotated[str | None, Query(max_length=100)] = None,
    target_type: Annotated[str | None, Query(max_length=100)] = None,
    target_id: Annotated[str | None, Query(max_length=100)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    async with res.router.transaction(ctx.tenant) as conn:
        rows = await queries.list_entries(
            conn,
            before_id=cursor,
            limit=limit + 1,
            action=action,
            actor_id=actor_id,
            target_type=target_type,
            target_id=target_id,
            since=_aware(since),
            until=_aware(until),
        )
    page = rows[:limit]
    return {
        "items": [{**dict(row), "at": row["at"].isoformat()} for row in page],
        "next_cursor": page[-1]["id"] if len(rows) > limit else None,
    }
