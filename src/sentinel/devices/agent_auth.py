"""`CurrentDevice`: a device authenticated by its bearer token (SHA-256 lookup; only active
credentials are accepted)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from sentinel.api.deps import Res, client_ip
from sentinel.audit.service import Actor
from sentinel.auth.errors import Unauthorized
from sentinel.auth.principal import bearer_token
from sentinel.db.tenancy import Tenant
from sentinel.devices import queries
from sentinel.devices.credentials import DEVICE_TOKEN_PREFIX, sha256


@dataclass(frozen=True)
class DeviceContext:
    tenant: Tenant
    device_id: UUID
    actor: Actor


async def current_device(request: Request, res: Res) -> DeviceContext:
    token = bearer_token(request)
    if token is None or not token.startswith(DEVICE_TOKEN_PREFIX):
        raise Unauthorized("A device token is required.")
    async with res.pool.acquire() as conn:
        row = await queries.credential_by_token(conn, sha256(token))
    if row is None or row["status"] != "active":
        raise Unauthorized("This device token is not valid.")
    device_id: UUID = row["device_id"]
    return DeviceContext(
        Tenant(row["org_id"], row["shard"]),
        device_id,
        Actor("device", str(device_id), None, client_ip(request)),
    )


CurrentDevice = Annotated[DeviceContext, Depends(current_device)]
