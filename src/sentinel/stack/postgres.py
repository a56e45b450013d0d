"""Sentinel's own PostgreSQL cluster: initdb into the data directory, TLS on, loopback only.

PostgreSQL refuses to run as root, so under root the cluster belongs to the `postgres` system
user. Roles: the superuser (setup only), `sentinel_owner` (migrations and tenant provisioning)
and `sentinel_app` (the application; NOINHERIT, so it reaches tenant data only through
`SET LOCAL ROLE`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sentinel.config import Settings
from sentinel.db.connect import MAIN_SHARD, ROLE_NAMES, connect, pg_target, shard_port
from sentinel.db.migrate import migrate_everything
from sentinel.stack.binaries import find_binary
from sentinel.stack.component import Component, Listen, StackError
from sentinel.stack.files import ensure_traversable, give, run_as, service_user
from sentinel.stack.secrets import load_secrets
from sentinel.sync import run_sync

SCRAM_ITERATIONS = 4096


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """A SCRAM-SHA-256 verifier, so no plaintext password is ever sent in SQL (or logged)."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


class Postgres(Component):
    """One PostgreSQL cluster: the main one (control schema and default tenants) or a tenant
    shard (`extra_shards`)."""

    ready_timeout = 60.0

    def __init__(self, settings: Settings, shard: str = MAIN_SHARD) -> None:
        super().__init__(settings)
        self.shard = shard
        self.port = shard_port(settings, shard)
        self.name = "postgres" if shard == MAIN_SHARD else f"postgres-{shard}"
        self.user = service_user("postgres")

    @property
    def home(self) -> Path:
        return self.settings.root / self.name

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def listens(self) -> list[Listen]:
        return [Listen("127.0.0.1", self.port)]

    def prepare(self) -> None:
        ensure_traversable(self.settings.root)
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        give(self.home, self.user)
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        socket_dir = self.home / "socket"
        socket_dir.mkdir(exist_ok=True)
        give(socket_dir, self.user)
        tls = self.settings.tls_dir
        for name in ("server.crt", "server.key", "ca.crt"):
            target = self.home / name
            shutil.copyfile(tls / name, target)
            target.chmod(0o600)
            give(target, self.user)
        conf = f"""# Written by Sentinel on every start; edit the generator, not this file.
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{socket_dir}'
max_connections = 200
shared_buffers = 128MB
password_encryption = scram-sha-256
ssl = on
ssl_cert_file = '{self.home / "server.crt"}'
ssl_key_file = '{self.home / "server.key"}'
ssl_ca_file = '{self.home / "ca.crt"}'
ssl_min_protocol_version = 'TLSv1.2'
logging_collector = off
log_destination = 'stderr'
log_line_prefix = '%m [%p] %q%u@%d '
log_statement = 'none'
log_min_error_statement = 'panic'
hba_file = '{self.data / "pg_hba.conf"}'
"""
        # log_min_error_statement=panic keeps failing statements (which may carry values)
        # out of the log; errors themselves are still logged.
        hba = """# TLS only from loopback; no plain TCP, no trust.
local   all all               scram-sha-256
hostssl all all 127.0.0.1/32  scram-sha-256
"""
        for name, text in (("postgresql.conf", conf), ("pg_hba.conf", hba)):
            path = self.data / name
            path.write_text(text)
            path.chmod(0o600)
            give(path, self.user)

    def _initdb(self) -> None:
        secrets = load_secrets(self.settings.secrets_dir)
        with tempfile.NamedTemporaryFile("w", dir=self.home, delete=False) as pwfile:
            pwfile.write(secrets.pg_superuser_password)
        pw_path = Path(pwfile.name)
        pw_path.chmod(0o600)
        give(pw_path, self.user)
        try:
            result = subprocess.run(
                [
                    find_binary("initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    ROLE_NAMES["superuser"],
                    f"--pwfile={pw_path}",
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ],
                **run_as(self.user),
                capture_output=True,
                text=True,
                check=False,
                cwd=self.home,
            )
        finally:
            pw_path.unlink(missing_ok=True)
        if result.returncode != 0:
            raise StackError(f"initdb failed: {result.stderr.strip().splitlines()[-1:]}")

    def command(self) -> list[str]:
        return [find_binary("postgres"), "-D", str(self.data)]

    def probe(self) -> None:
        async def check() -> None:
            conn = await connect(
                pg_target(self.settings, "superuser", "postgres", self.shard), connect_timeout=2
            )
            await conn.close()

        run_sync(check())

    def after_ready(self) -> None:
        run_sync(bootstrap_roles(self))
        if self.shard != MAIN_SHARD:
            return  # tenant shards hold no control schema; the main cluster migrates them
        report = run_sync(migrate_everything(self.settings))
        if report.failed:
            names = ", ".join(t.schema for t in report.failed[:5])
            raise StackError(f"tenant migrations failed for {names}; run `sentinel migrate`")


async def bootstrap_roles(pg: Postgres) -> None:
    """Create the owner and application roles and the database; idempotent."""
    settings = pg.settings
    secrets = load_secrets(settings.secrets_dir)
    owner, app = ROLE_NAMES["owner"], ROLE_NAMES["app"]
    conn = await connect(pg_target(settings, "superuser", "postgres", pg.shard))
    try:
        existing = {r["rolname"] for r in await conn.fetch("SELECT rolname FROM pg_roles")}
        verb = {True: "ALTER", False: "CREATE"}
        await conn.execute(
            f"{verb[owner in existing]} ROLE {owner} LOGIN CREATEROLE NOSUPERUSER "
            f"PASSWORD '{scram_verifier(secrets.pg_owner_password)}'"
        )
        await conn.execute(
            f"{verb[app in existing]} ROLE {app} LOGIN NOINHERIT NOSUPERUSER NOCREATEROLE "
            f"NOCREATEDB PASSWORD '{scram_verifier(secrets.pg_app_password)}'"
        )
        db = settings.pg_database
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", db):
            await conn.execute(f'CREATE DATABASE "{db}" OWNER {owner}')
        await conn.execute(f'REVOKE ALL ON DATABASE "{db}" FROM PUBLIC')
        await conn.execute(f'GRANT CONNECT ON DATABASE "{db}" TO {app}')
    finally:
        await conn.close()
    conn = await connect(pg_target(settings, "superuser", shard=pg.shard))
    try:
        await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        await conn.execute(f"ALTER SCHEMA public OWNER TO {owner}")
    finally:
        await conn.close()
