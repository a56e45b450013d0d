"""Recording audit entries. Call inside the same tenant transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from sentinel.audit import queries

ActorType = Literal["user", "device", "system"]


@dataclass(frozen=True)
class Actor:
    type: ActorType
    id: str | None
    label: str | None
    ip: str | None = None
    request_id: str | None = None


SYSTEM = Actor("system", None, "sentinel")


async def record(
    conn: asyncpg.Connection,
    actor: Actor,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    before: Any = None,
    after: Any = None,
) -> int:
    return await queries.insert_entry(
        conn,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        target_type=target_type,
        target_id=target_id,
        source_ip=actor.ip,
        request_id=actor.request_id,
        before=before,
        after=after,
    )
