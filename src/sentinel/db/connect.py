"""PostgreSQL connections: always TLS with full verification (sslmode=verify-full).

The application never talks to PostgreSQL in plain text and never skips certificate or host name
checks; a connection through a server presenting a certificate from another CA fails.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import asyncpg

from sentinel.config import Settings
from sentinel.stack.secrets import load_secrets

Role = Literal["superuser", "owner", "app"]
ROLE_NAMES: dict[Role, str] = {
    "superuser": "postgres",
    "owner": "sentinel_owner",
    "app": "sentinel_app",
}
PG_HOST = "127.0.0.1"


def verify_full_context(ca_file: Path) -> ssl.SSLContext:
    """TLS context equivalent to libpq's sslmode=verify-full with `ca_file` as root."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass(frozen=True)
class PgTarget:
    host: str
    port: int
    database: str
    user: str
    password: str
    ca_file: Path

    def connect_kwargs(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "database": self.database,
            "user": self.user,
            "password": self.password,
            "ssl": verify_full_context(self.ca_file),
            "server_settings": {"application_name": "sentinel"},
        }


MAIN_SHARD = "main"


def shard_port(settings: Settings, shard: str) -> int:
    if shard == MAIN_SHARD:
        return settings.pg_port
    try:
        return settings.extra_shards[shard]
    except KeyError:
        raise LookupError(f"unknown shard {shard!r}") from None


def pg_target(
    settings: Settings, role: Role, database: str | None = None, shard: str = MAIN_SHARD
) -> PgTarget:
    secrets = load_secrets(settings.secrets_dir)
    password = {
        "superuser": secrets.pg_superuser_password,
        "owner": secrets.pg_owner_password,
        "app": secrets.pg_app_password,
    }[role]
    return PgTarget(
        host=PG_HOST,
        port=shard_port(settings, shard),
        database=database or settings.pg_database,
        user=ROLE_NAMES[role],
        password=password,
        ca_file=settings.ca_cert_path,
    )


async def connect(target: PgTarget, connect_timeout: float = 5.0) -> asyncpg.Connection:
    return await asyncpg.connect(timeout=connect_timeout, **target.connect_kwargs())


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(
            kind,
            schema="pg_catalog",
            encoder=lambda v: json.dumps(v, default=str),
            decoder=json.loads,
        )


async def create_pool(target: PgTarget, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        min_size=min_size, max_size=max_size, init=_init_connection, **target.connect_kwargs()
    )
