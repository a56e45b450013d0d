"""Moving an organization to another shard without losing data.

1. Mark it moving: the API answers 503 for it, enrollment waits, the worker leaves it alone
   and ingest holds its messages unacknowledged (the broker keeps them).
2. Wait longer than any cache of that flag lives, so no write can still land on the old shard.
3. Create the tenant on the target (role, schema, migrations, partitions), copy every table in
   one transaction there, check every row count, fix sequences.
4. Point the organization at the target and clear the flag (ingest resumes and writes there),
   then drop the old schema and role.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import Any
from uuid import UUID

import asyncpg

from sentinel.api.resources import Resources
from sentinel.config import Settings
from sentinel.db.pools import DEFAULT_SHARD
from sentinel.db.tenancy import checked_schema, tenant_schema
from sentinel.logging import get_logger
from sentinel.orgs import queries
from sentinel.orgs.provisioning import create_tenant, drop_tenant

log = get_logger(__name__)
# Referenced tables first; any table a later migration adds is copied after these.
ORDER = (
    "device_groups",
    "devices",
    "telemetry",
    "commands",
    "alert_rules",
    "notification_channels",
    "alerts",
    "notifications",
    "audit_log",
    "settings",
    "exports",
)


class MoveError(RuntimeError):
    pass


async def _tables(conn: asyncpg.Connection, schema: str) -> list[str]:
    rows = await conn.fetch(
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
             AND c.relname <> 'schema_version'""",
        schema,
    )
    names = {row["relname"] for row in rows}
    return [t for t in ORDER if t in names] + sorted(names - set(ORDER))


async def _count(conn: asyncpg.Connection, schema: str, table: str) -> int:
    count: int = await conn.fetchval(f'SELECT count(*) FROM {schema}."{table}"')
    return count


async def copy_schema(
    source: asyncpg.Connection, target: asyncpg.Connection, schema: str
) -> dict[str, int]:
    """Copy every table of `schema` (binary COPY); the caller holds a transaction on target."""
    schema = checked_schema(schema)
    tables = await _tables(source, schema)
    await target.execute(
        "TRUNCATE " + ", ".join(f'{schema}."{t}"' for t in tables) + " CASCADE"
    )  # the fresh schema's default rows (e.g. default alert rules) give way to the originals
    copied: dict[str, int] = {}
    for table in tables:
        buffer = io.BytesIO()
        await source.copy_from_query(
            f'SELECT * FROM {schema}."{table}"', output=buffer, format="binary"
        )
        buffer.seek(0)
        await target.copy_to_table(table, schema_name=schema, source=buffer, format="binary")
        expected, got = await _count(source, schema, table), await _count(target, schema, table)
        if expected != got:
            raise MoveError(f"{table}: copied {got} of {expected} rows")
        copied[table] = got
    for row in await target.fetch(
        """SELECT c.relname AS tbl, a.attname AS col FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid
           WHERE n.nspname = $1 AND pg_get_serial_sequence(quote_ident(n.nspname) || '.' ||
                 quote_ident(c.relname), a.attname) IS NOT NULL AND c.relkind IN ('r', 'p')""",
        schema,
    ):
        await target.execute(
            f"""SELECT setval(pg_get_serial_sequence('{schema}."{row["tbl"]}"', '{row["col"]}'),
                       coalesce((SELECT max("{row["col"]}") FROM {schema}."{row["tbl"]}"), 0) + 1,
                       false)"""
        )
    return copied


async def move_org(
    settings: Settings, org_id: UUID, target_shard: str, say: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    res = await Resources.open(settings)
    try:
        if target_shard not in res.owner_pools.shards():
            raise MoveError(f"unknown shard {target_shard!r}; known: {res.owner_pools.shards()}")
        control = await res.owner_pools.get(DEFAULT_SHARD)
        async with control.acquire() as conn:
            state = await queries.shard_state(conn, org_id)
            if state is None:
                raise MoveError(f"no organization {org_id}")
            source_shard = state["shard"]
            if source_shard == target_shard:
                raise MoveError(f"the organization is already on {target_shard}")
            await queries.set_moving(conn, org_id, True)
        say(f"moving {org_id} from {source_shard} to {target_shard}: writes paused")
        try:
            # Longer than ingest's and the API's view of the flag can be stale.
            await asyncio.sleep(
                settings.device_cache_seconds + 2 * settings.ingest_batch_seconds + 2
            )
            schema = tenant_schema(org_id)
            source = await res.owner_pools.get(source_shard)
            target = await res.owner_pools.get(target_shard)
            async with source.acquire() as src, target.acquire() as dst:
                async with dst.transaction():
                    await create_tenant(dst, org_id)
                    copied = await copy_schema(src, dst, schema)
                say(f"copied {sum(copied.values())} rows in {len(copied)} tables")
                async with control.acquire() as conn:
                    await queries.set_moving(conn, org_id, False, target_shard)
                async with src.transaction():
                    await drop_tenant(src, org_id)
        except BaseException:
            async with control.acquire() as conn:
                await queries.set_moving(conn, org_id, False)
            raise
        log.info("organization moved", org_id=str(org_id), source=source_shard, target=target_shard)
        return {"org_id": str(org_id), "from": source_shard, "to": target_shard, "rows": copied}
    finally:
        await res.close()
