"""`/api/v1/agent/*`: what the agent calls over HTTPS (enrollment, its configuration)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from sentinel.api.deps import Res, client_ip
from sentinel.devices import service
from sentinel.devices.agent_auth import CurrentDevice
from sentinel.devices.agent_config import agent_config
from sentinel.devices.credentials import sha256
from sentinel.devices.schemas import EnrollRequest

router = APIRouter(prefix="/api/v1/agent", tags=["agent"])


@router.post("/enroll")
async def enroll(body: EnrollRequest, request: Request, res: Res) -> dict[str, Any]:
    ip = client_ip(request) or "unknown"
    await res.limiter.enforce("enrollment", f"ip:{ip}")
    await res.limiter.enforce("enrollment", f"token:{sha256(body.token).hex()[:32]}")
    enrolled = await service.enroll(res, body.token, body.hostname, body.name, ip)
    settings = res.settings
    return {
        "org_id": enrolled.org_id,
        "device_id": enrolled.device_id,
        "device_token": enrolled.token,
        "mqtt": {
            "host": settings.public_host,
            "port": settings.mqtts_port,
            "username": enrolled.username,
            "client_id": enrolled.username,
            "topic_prefix": f"sentinel/{enrolled.username}",
        },
        "api_url": settings.public_url,
        "ca_cert": settings.ca_cert_path.read_text(),
    }


@router.get("/config")
async def config(device: CurrentDevice, res: Res) -> dict[str, Any]:
    async with res.router.transaction(device.tenant) as conn:
        return await agent_config(conn, res.settings)
