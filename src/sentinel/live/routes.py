"""`wss://…/api/v1/orgs/{org_id}/live`: the organization's live events.

Authentication: the browser's access cookie (then the Origin must be our own), or a bearer
token passed as the WebSocket subprotocol `bearer.<token>`. The caller must be a member with
`devices:read`. A refused handshake answers 403 whatever the reason, so it reveals nothing.
Connections send heartbeats, are re-checked against session revocation and are capped in
lifetime (clients reconnect with a fresh token).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from uuid import UUID

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from sentinel.api.resources import Resources
from sentinel.auth.principal import ACCESS_COOKIE
from sentinel.auth.tokens import InvalidToken
from sentinel.auth.verifier import Principal
from sentinel.authz.permissions import Permission, Role, allowed
from sentinel.live.hub import Subscription
from sentinel.logging import get_logger
from sentinel.orgs import queries as org_queries

log = get_logger(__name__)
router = APIRouter(tags=["live"])
SUBPROTOCOL = "sentinel.v1"
BEARER_PREFIX = "bearer."
HEARTBEAT_SECONDS = 20.0
MAX_LIFETIME_SECONDS = 3600.0


async def _authenticate(websocket: WebSocket, res: Resources, org_id: str) -> Principal | None:
    token = None
    offered = websocket.scope.get("subprotocols", [])
    for protocol in offered:
        if protocol.startswith(BEARER_PREFIX):
            token = protocol.removeprefix(BEARER_PREFIX)
    origin = websocket.headers.get("origin")
    if token is None:
        token = websocket.cookies.get(ACCESS_COOKIE)
        if token is None or origin != res.settings.public_url:
            return None  # a cookie is only honoured from our own pages
    elif origin is not None and origin != res.settings.public_url:
        return None
    try:
        principal = await res.verifier.verify(token)
        org_uuid = UUID(org_id)
    except (InvalidToken, ValueError):
        return None
    if principal.session_id and await res.auth.session_is_revoked_fast(principal.session_id):
        return None
    async with res.pool.acquire() as conn:
        row = await org_queries.membership(conn, org_uuid, principal.user_id)
    if row is None or not allowed(Role(row["role"]), Permission.DEVICES_READ):
        return None
    return principal


@router.websocket("/api/v1/orgs/{org_id}/live")
async def live(websocket: WebSocket, org_id: str) -> None:
    res: Resources = websocket.app.state.resources
    principal = await _authenticate(websocket, res, org_id)
    if principal is None:
        await websocket.close(code=1008)
        return
    subprotocol = SUBPROTOCOL if SUBPROTOCOL in websocket.scope.get("subprotocols", []) else None
    await websocket.accept(subprotocol=subprotocol)
    subscription = await res.live.subscribe(UUID(org_id))
    try:
        await _pump(websocket, res, principal, subscription)
    except WebSocketDisconnect:
        pass
    finally:
        await res.live.unsubscribe(subscription)


async def _pump(
    websocket: WebSocket, res: Resources, principal: Principal, subscription: Subscription
) -> None:
    await websocket.send_text('{"type":"hello"}')
    opened = time.monotonic()
    receiver = asyncio.create_task(_discard_incoming(websocket))
    try:
        while time.monotonic() - opened < MAX_LIFETIME_SECONDS:
            try:
                event = await asyncio.wait_for(subscription.queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                if principal.session_id and await res.auth.session_is_revoked_fast(
                    principal.session_id
                ):
                    await websocket.close(code=4401)
                    return
                event = '{"type":"ping"}'
            if receiver.done():
                return
            await websocket.send_text(event)
        await websocket.close(code=1000)
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await receiver


async def _discard_incoming(websocket: WebSocket) -> None:
    """The feed is one-way; reading keeps the connection's close handshake working."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()
