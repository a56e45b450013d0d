"""The demo organization that `sentinel up --demo` (the README's first command) creates once:
an owner login, printed once and never stored, and agent settings suited to a live demo."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from uuid import UUID

from sentinel.api.resources import Resources
from sentinel.audit.service import Actor
from sentinel.auth.service import ClientMeta
from sentinel.auth.verifier import Principal
from sentinel.config import Settings
from sentinel.db.pools import DEFAULT_SHARD
from sentinel.db.tenancy import Tenant
from sentinel.devices.agent_config import store_agent_settings
from sentinel.orgs import queries as org_queries
from sentinel.orgs.service import create_org
from sentinel.stack.files import write_atomic

DOMAIN = "demo-school.example"
DEMO_EMAIL = f"owner@{DOMAIN}"
DEMO_ORG = "Demo School District"


@dataclass(frozen=True)
class Demo:
    org_id: UUID
    email: str
    password: str | None  # only on the run that created it


async def ensure_demo(settings: Settings, telemetry_interval: int) -> Demo:
    marker = settings.root / "demo.json"
    res = await Resources.open(settings)
    try:
        if marker.exists():
            saved = json.loads(marker.read_text())
            async with res.pool.acquire() as conn:
                if await org_queries.org(conn, UUID(saved["org_id"])) is not None:
                    return Demo(UUID(saved["org_id"]), saved["email"], None)
        password = secrets.token_urlsafe(12)
        # A fresh address if an earlier demo organization was deleted (its owner may remain).
        email = DEMO_EMAIL if not marker.exists() else f"owner-{secrets.token_hex(3)}@{DOMAIN}"
        grant = await res.auth.signup(email, password, ClientMeta(None, "sentinel up --demo"))
        principal = Principal(UUID(grant.user["id"]), grant.session_id, email)
        org = await create_org(
            res, principal, Actor("system", None, "sentinel up --demo"), DEMO_ORG
        )
        async with res.router.transaction(Tenant(org["id"], DEFAULT_SHARD)) as conn:
            await store_agent_settings(conn, {"telemetry_interval_s": telemetry_interval})
        write_atomic(marker, json.dumps({"org_id": str(org["id"]), "email": email}), mode=0o600)
        return Demo(org["id"], email, password)
    finally:
        await res.close()
