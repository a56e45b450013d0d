"""Secrets at rest: no raw token persists anywhere the stack writes.

This module runs last in the session. It creates one of every kind of bearer secret and uses
each one the way clients do (including refused attempts, which take error paths): device tokens
(several enrollments, one rotated: old and new), enrollment tokens (used, revoked), refresh
tokens (sign-up, login, rotation) and invitation tokens (accepted, pending). Then it scans every
text-like column (text, varchar, char, bytea, json, jsonb, text arrays) of every table in every
schema of the database, every file under the logs directory and the broker's directory
(password file, persistence), and every Redis key and value, for those exact strings — and for
the 32 random bytes inside each device token, hex-encoded. Positive controls (a canary stored on
purpose, the stored SHA-256 of a token, a device id in the logs) prove each scan can find
what it looks for.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from sentinel.stack.launcher import Stack
from tests.broker.mqtt import connected
from tests.devices.api import School, agent_config, create_token, database, ok, try_enroll
from tests.fleet import enroll
from tests.harness import trust
from tests.orgs.api import accept, invite
from tests.people import create_org, login, signup, unique_email

pytestmark = pytest.mark.last

TEXT_TYPES = ("text", "character varying", "character", "bytea", "json", "jsonb")
TEXT_ARRAYS = ("_text", "_varchar", "_bpchar")
SKIPPED_SCHEMAS = ("pg_catalog", "information_schema")


@dataclass
class Made:
    """Every raw secret this module created (label → value) and the positive controls."""

    secrets: dict[str, str] = field(default_factory=dict)
    canary: str = ""
    stored_sha256_hex: str = ""
    logged_device_id: str = ""
    broker_username: str = ""

    def needles(self) -> dict[str, str]:
        """What must not be found: each secret, and the random bytes of each device token."""
        found = dict(self.secrets)
        for label, value in self.secrets.items():
            if value.startswith("sdt_"):
                raw = base64.urlsafe_b64decode(value.removeprefix("sdt_") + "=")
                found[f"{label} (random bytes, hex)"] = raw.hex()
        return found


def _make(client: httpx.Client, stack: Stack) -> Made:
    made = Made()
    keep = made.secrets

    owner = signup(client)
    keep["refresh token (sign-up)"] = owner.refresh_token
    again = login(client, owner.email)
    keep["refresh token (login)"] = again.refresh_token
    refreshed = ok(
        client.post(
            "/auth/v1/token",
            params={"grant_type": "refresh_token"},
            json={"refresh_token": again.refresh_token},
        )
    )
    keep["refresh token (rotated)"] = refreshed["refresh_token"]
    assert refreshed["refresh_token"] != again.refresh_token

    org = create_org(client, owner)
    school = School(str(org["id"]), str(org["name"]), owner)
    member = signup(client)
    keep["refresh token (member)"] = member.refresh_token
    accepted = invite(client, owner, school.org_id, member.email, "admin")
    keep["invitation token (accepted)"] = accepted["token"]
    assert accept(client, member, accepted["token"]).status_code == 200
    pending = invite(client, owner, school.org_id, unique_email("pending"), "readonly")
    keep["invitation token (pending)"] = pending["token"]

    used = create_token(client, school, max_uses=5)
    keep["enrollment token (used)"] = used["token"]
    revoked = create_token(client, school, max_uses=5)
    keep["enrollment token (revoked)"] = revoked["token"]
    url = school.url("enrollment-tokens", str(revoked["id"]))
    assert client.delete(url, headers=owner.headers).status_code == 204
    assert try_enroll(client, revoked["token"]).status_code == 401  # an error path

    devices = [enroll(client, used["token"]) for _ in range(3)]
    for i, device in enumerate(devices):
        keep[f"device token {i}"] = device.token
        assert agent_config(client, device.token).status_code == 200
    rotated = ok(
        client.post(school.device_url(devices[0].device_id, "rotate-token"), headers=owner.headers)
    )
    keep["device token 0 (after rotation)"] = rotated["device_token"]
    assert agent_config(client, devices[0].token).status_code == 401  # an error path
    with connected(stack.settings, devices[1]) as client_device:
        client_device.send_samples([1, 2])
        client_device.wait_receipts({1, 2})

    made.canary = f"canary-{secrets.token_hex(12)}"
    ok(
        client.patch(
            school.device_url(devices[1].device_id),
            json={"notes": made.canary},
            headers=owner.headers,
        )
    )
    made.stored_sha256_hex = hashlib.sha256(devices[1].token.encode()).hexdigest()
    made.logged_device_id = devices[1].device_id
    made.broker_username = devices[1].username
    return made


@pytest.fixture(scope="module")
def made(stack: Stack) -> Iterator[Made]:
    settings = stack.settings
    with httpx.Client(base_url=settings.public_url, verify=trust(settings), timeout=10) as client:
        yield _make(client, stack)


def _hits(text: str, needles: dict[str, str]) -> list[str]:
    return [label for label, needle in needles.items() if needle in text]


async def test_no_raw_token_in_any_database_column(stack: Stack, made: Made) -> None:
    needles = made.needles()
    controls = {"canary": made.canary, "stored sha256": made.stored_sha256_hex}
    wanted = {**needles, **controls}
    labels, values = list(wanted), list(wanted.values())
    found: dict[str, set[str]] = {}
    async with database(stack.settings, "superuser") as conn:
        columns = await conn.fetch(
            """SELECT c.table_schema, c.table_name, c.column_name
               FROM information_schema.columns c
               JOIN information_schema.tables t
                 ON t.table_schema = c.table_schema AND t.table_name = c.table_name
               WHERE t.table_type = 'BASE TABLE'
                 AND c.table_schema <> ALL($1::text[]) AND c.table_schema NOT LIKE 'pg_toast%'
                 AND (c.data_type = ANY($2::text[])
                      OR (c.data_type = 'ARRAY' AND c.udt_name = ANY($3::text[])))
               ORDER BY 1, 2, 3""",
            list(SKIPPED_SCHEMAS),
            list(TEXT_TYPES),
            list(TEXT_ARRAYS),
        )
        tables: dict[tuple[str, str], list[str]] = {}
        for row in columns:
            tables.setdefault((row["table_schema"], row["table_name"]), []).append(
                row["column_name"]
            )
        for (schema, table), names in tables.items():
            # bytea casts to text as `\x` + hex, so hex needles find raw bytes too.
            matches = " OR ".join(f"strpos({_ident(n)}::text, needle) > 0" for n in names)
            hits = await conn.fetch(
                f"""SELECT i FROM unnest($1::text[]) WITH ORDINALITY AS n(needle, i)
                    WHERE EXISTS (SELECT 1 FROM {_ident(schema)}.{_ident(table)}
                                  WHERE {matches})""",
                values,
            )
            for hit in hits:
                found.setdefault(labels[hit["i"] - 1], set()).add(f"{schema}.{table}")

    schemas = {schema for schema, _ in tables}
    assert "control" in schemas
    assert any(schema.startswith("org_") for schema in schemas)  # tenant schemas too
    assert any(w.endswith(".devices") for w in found.get("canary", ())), "scan misses text"
    assert "control.device_credentials" in found.get("stored sha256", ()), "scan misses bytea"
    leaked = {label: sorted(where) for label, where in found.items() if label in needles}
    assert leaked == {}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _files(root: Path) -> Iterator[Path]:
    return (path for path in sorted(root.rglob("*")) if path.is_file())


def test_no_raw_token_in_logs_or_broker_files(stack: Stack, made: Made) -> None:
    settings = stack.settings
    needles = made.needles()
    leaked: dict[str, list[str]] = {}
    scanned = 0
    device_id_logged = broker_user_stored = False
    for root in (settings.logs_dir, settings.broker_dir):
        for path in _files(root):
            text = path.read_bytes().decode(errors="replace")
            scanned += 1
            for label in _hits(text, needles):
                leaked.setdefault(label, []).append(str(path.relative_to(settings.root)))
            device_id_logged |= root == settings.logs_dir and made.logged_device_id in text
            broker_user_stored |= root == settings.broker_dir and made.broker_username in text
    assert scanned >= 5
    assert device_id_logged, "the log scan cannot find a device id the API logs"
    assert broker_user_stored, "the broker scan cannot find a username of the password file"
    assert leaked == {}


def test_no_raw_token_in_redis(redis_client: redis.Redis, made: Made) -> None:
    needles = made.needles()
    leaked: dict[str, list[str]] = {}
    keys = 0
    for key in redis_client.scan_iter(count=1000):
        keys += 1
        raw_kind = redis_client.type(key)
        kind = raw_kind.decode() if isinstance(raw_kind, bytes) else str(raw_kind)
        content: list[object] = [key]
        if kind == "string":
            content.append(redis_client.get(key))
        elif kind == "hash":
            content.append(redis_client.hgetall(key))
        elif kind == "list":
            content.append(redis_client.lrange(key, 0, -1))
        elif kind == "set":
            content.append(redis_client.smembers(key))
        elif kind == "zset":
            content.append(redis_client.zrange(key, 0, -1))
        elif kind == "stream":
            content.append(redis_client.xrange(key))
        text = repr(content)
        for label in _hits(text, needles):
            leaked.setdefault(label, []).append(repr(key))
    assert keys > 0
    assert leaked == {}
