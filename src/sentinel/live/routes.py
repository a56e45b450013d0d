"""`wss://…/api/v1/orgs/{org_id}/live`: the organization's live events.

Authentication: the browser's access cookie (then the Origin must be our own), or a bearer
token passed as the WebSocket subprotocol `bearer.<token>`. The caller must be a member with
`devices:read`. A refused handshake answers 403 whatever the reason, so it reveals nothing.
Connections send heartbeats, are capped in lifetime (clients reconnect with a fresh token) and
re-check, every `RECHECK_SECONDS` whether or not events are flowing, that the session has not
ended (close code 4401) and that the caller may still read the organization's devices (4403).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from uuid import UUID

import asyncpg
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
RECHECK_SECONDS = 5.0
MAX_LIFETIME_SECONDS = 3600.0
SESSION_ENDED = 4401
ACCESS_LOST = 4403


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
    if await _denied(res, principal, org_uuid, with_database=False) is not None:
        return None
    return principal


async def _denied(
    res: Resources, principal: Principal, org_id: UUID, with_database: bool = True
) -> int | None:
    """Why `principal` may no longer watch `org_id` (a close code), or None if it still may.

    The handshake relies on the Redis revocation marker like every request; an open feed also
    asks the database, because the marker expires long before a feed's lifetime ends."""
    session_id = principal.session_id
    if session_id is not None:
        if await res.auth.session_is_revoked_fast(session_id):
            return SESSION_ENDED
        if (
            with_database
            and res.settings.auth_provider == "local"
            and not await res.auth.session_is_active(session_id)
        ):
            return SESSION_ENDED
    async with res.pool.acquire() as conn:
        row = await org_queries.membership(conn, org_id, principal.user_id)
    if row is None or not allowed(Role(row["role"]), Permission.DEVICES_READ):
        return ACCESS_LOST
    return None


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
    opened = last_sent = time.monotonic()
    next_check = opened + RECHECK_SECONDS
    receiver = asyncio.create_task(_discard_incoming(websocket))
    getter: asyncio.Task[str] | None = None  # kept across timeouts, so no event is ever lost
    try:
        while (now := time.monotonic()) - opened < MAX_LIFETIME_SECONDS:
            if now >= next_check:
                # Checked on a clock, not only when idle: a busy feed is never idle.
                code = await _recheck(res, principal, subscription.org_id)
                if code is not None:
                    await websocket.close(code=code)
                    return
                next_check = time.monotonic() + RECHECK_SECONDS
            if getter is None:
                getter = asyncio.create_task(subscription.queue.get())
            wait = min(next_check, last_sent + HEARTBEAT_SECONDS) - time.monotonic()
            await asyncio.wait(
                {getter, receiver}, timeout=max(0.0, wait), return_when=asyncio.FIRST_COMPLETED
            )
            if receiver.done():
                return  # the client went away
            if getter.done():
                event, getter = getter.result(), None
            elif time.monotonic() - last_sent >= HEARTBEAT_SECONDS:
                event = '{"type":"ping"}'
            else:
                continue
            await websocket.send_text(event)
            last_sent = time.monotonic()
        await websocket.close(code=1000)
    finally:
        for task in (getter, receiver):
            if task is not None:
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await receiver
        if getter is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await getter


async def _recheck(res: Resources, principal: Principal, org_id: UUID) -> int | None:
    try:
        return await _denied(res, principal, org_id)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # A database hiccup does not end every open feed; the next check asks again.
        log.warning("live feed re-check failed", error=exc.__class__.__name__)
        return None


async def _discard_incoming(websocket: WebSocket) -> None:
    """The feed is one-way; reading keeps the connection's close handshake working."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()
