"""All SQL of organizations, memberships and invitations (control schema)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
from asyncpg import Record


async def membership(conn: asyncpg.Connection, org_id: UUID, user_id: UUID) -> Record | None:
    row: Record | None = await conn.fetchrow(
        """SELECT m.role, o.name, o.shard, o.moving FROM control.memberships m
           JOIN control.organizations o ON o.id = m.org_id
           WHERE m.org_id = $1 AND m.user_id = $2""",
        org_id,
        user_id,
    )
    return row


async def insert_org(
    conn: asyncpg.Connection, org_id: UUID, name: str, shard: str, created_by: UUID
) -> Record:
    row: Record = await conn.fetchrow(
        """INSERT INTO control.organizations (id, name, shard, created_by) VALUES ($1, $2, $3, $4)
           RETURNING id, name, shard, created_at""",
        org_id,
        name,
        shard,
        created_by,
    )
    return row


async def shard_state(conn: asyncpg.Connection, org_id: UUID) -> Record | None:
    row: Record | None = await conn.fetchrow(
        "SELECT shard, moving FROM control.organizations WHERE id = $1", org_id
    )
    return row


async def set_moving(
    conn: asyncpg.Connection, org_id: UUID, moving: bool, shard: str | None = None
) -> None:
    await conn.execute(
        "UPDATE control.organizations SET moving = $2, shard = coalesce($3, shard) WHERE id = $1",
        org_id,
        moving,
        shard,
    )


async def orgs_per_shard(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("SELECT shard, count(*) AS n FROM control.organizations GROUP BY 1")
    return {row["shard"]: int(row["n"]) for row in rows}


async def orgs_of_user(conn: asyncpg.Connection, user_id: UUID) -> list[Record]:
    rows: list[Record] = await conn.fetch(
        """SELECT o.id, o.name, o.created_at, m.role FROM control.memberships m
           JOIN control.organizations o ON o.id = m.org_id
           WHERE m.user_id = $1 ORDER BY o.name, o.id""",
        user_id,
    )
    return rows


async def org(conn: asyncpg.Connection, org_id: UUID) -> Record | None:
    row: Record | None = await conn.fetchrow(
        "SELECT id, name, shard, created_at FROM control.organizations WHERE id = $1",
        org_id,
    )
    return row


async def rename_org(conn: asyncpg.Connection, org_id: UUID, name: str) -> None:
    await conn.execute("UPDATE control.organizations SET name = $2 WHERE id = $1", org_id, name)


async def delete_org(conn: asyncpg.Connection, org_id: UUID) -> None:
    await conn.execute("DELETE FROM control.organizations WHERE id = $1", org_id)


async def insert_membership(
    conn: asyncpg.Connection, org_id: UUID, user_id: UUID, role: str
) -> bool:
    status: str = await conn.execute(
        """INSERT INTO control.memberships (org_id, user_id, role) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING""",
        org_id,
        user_id,
        role,
    )
    return status.endswith(" 1")


async def members(conn: asyncpg.Connection, org_id: UUID) -> list[Record]:
    rows: list[Record] = await conn.fetch(
        """SELECT u.id AS user_id, u.email, m.role, m.created_at FROM control.memberships m
           JOIN control.users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.email""",
        org_id,
    )
    return rows


async def lock_members(conn: asyncpg.Connection, org_id: UUID) -> dict[UUID, str]:
    """Every member's role, rows locked: owner-count rules see a stable picture."""
    rows = await conn.fetch(
        "SELECT user_id, role FROM control.memberships WHERE org_id = $1 FOR UPDATE",
        org_id,
    )
    return {row["user_id"]: row["role"] for row in rows}


async def set_role(conn: asyncpg.Connection, org_id: UUID, user_id: UUID, role: str) -> None:
    await conn.execute(
        "UPDATE control.memberships SET role = $3 WHERE org_id = $1 AND user_id = $2",
        org_id,
        user_id,
        role,
    )


async def delete_membership(conn: asyncpg.Connection, org_id: UUID, user_id: UUID) -> None:
    await conn.execute(
        "DELETE FROM control.memberships WHERE org_id = $1 AND user_id = $2",
        org_id,
        user_id,
    )


async def user_email(conn: asyncpg.Connection, user_id: UUID) -> str | None:
    email: str | None = await conn.fetchval(
        "SELECT email FROM control.users WHERE id = $1", user_id
    )
    return email


async def insert_invitation(
    conn: asyncpg.Connection,
    invitation_id: UUID,
    org_id: UUID,
    email: str,
    role: str,
    token_hash: bytes,
    invited_by: UUID,
    expires_at: datetime,
) -> Record:
    row: Record = await conn.fetchrow(
        """INSERT INTO control.invitations (id, org_id, email, role, token_hash, invited_by,
                                            expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           RETURNING id, email, role, created_at, expires_at""",
        invitation_id,
        org_id,
        email,
        role,
        token_hash,
        invited_by,
        expires_at,
    )
    return row


async def pending_invitations(conn: asyncpg.Connection, org_id: UUID) -> list[Record]:
    rows: list[Record] = await conn.fetch(
        """SELECT id, email, role, created_at, expires_at FROM control.invitations
           WHERE org_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()
           ORDER BY created_at DESC""",
        org_id,
    )
    return rows


async def revoke_invitation(
    conn: asyncpg.Connection, org_id: UUID, invitation_id: UUID
) -> Record | None:
    row: Record | None = await conn.fetchrow(
        """UPDATE control.invitations SET revoked_at = now()
           WHERE id = $1 AND org_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL
           RETURNING id, email, role""",
        invitation_id,
        org_id,
    )
    return row


async def invitation_for_update(conn: asyncpg.Connection, token_hash: bytes) -> Record | None:
    row: Record | None = await conn.fetchrow(
        """SELECT i.id, i.org_id, i.email, i.role, i.expires_at, i.accepted_at, i.revoked_at,
                  o.shard, o.name
           FROM control.invitations i JOIN control.organizations o ON o.id = i.org_id
           WHERE i.token_hash = $1 FOR UPDATE OF i""",
        token_hash,
    )
    return row


async def mark_invitation_accepted(conn: asyncpg.Connection, invitation_id: UUID) -> None:
    await conn.execute(
        "UPDATE control.invitations SET accepted_at = now() WHERE id = $1",
        invitation_id,
    )


async def settled_orgs(conn: asyncpg.Connection) -> list[Record]:
    """Every organization not being moved (a moving one is left alone until it has landed)."""
    rows: list[Record] = await conn.fetch(
        "SELECT id, shard FROM control.organizations WHERE NOT moving ORDER BY id"
    )
    return rows
