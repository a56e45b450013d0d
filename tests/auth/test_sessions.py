"""Sessions and logout: `local` ends only the calling session, `others` every other one,
`global` all of them; the session list marks the current one; revoking a session by id kills
its refresh and access tokens at once; sessions of other users cannot be revoked (404).
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from sentinel.stack.launcher import Stack
from tests.auth.helpers import (
    alogin,
    as_user,
    asignup,
    assert_problem,
    assert_token_refused,
    assert_token_works,
    bearer,
    create_org,
    in_process_api,
    refresh,
)
from tests.harness import free_ports
from tests.people import User


async def three_sessions(client: httpx.AsyncClient) -> tuple[User, User, User]:
    first = await asignup(client)
    second = await alogin(client, first.email)
    third = await alogin(client, first.email)
    assert len({first.session_id, second.session_id, third.session_id}) == 3
    return first, second, third


async def logout(client: httpx.AsyncClient, user: User, scope: str | None) -> httpx.Response:
    params = {"scope": scope} if scope else {}
    return await client.post("/auth/v1/logout", params=params, headers=user.headers)


async def assert_session_dead(client: httpx.AsyncClient, session: User) -> None:
    await assert_token_refused(client, session.access_token)
    assert_problem(await refresh(client, session.refresh_token), 400, "invalid_grant")


async def assert_session_alive(client: httpx.AsyncClient, session: User) -> None:
    await assert_token_works(client, session.access_token)
    assert (await create_org(client, session.access_token)).status_code == 201
    rotated = await refresh(client, session.refresh_token)
    assert rotated.status_code == 200, rotated.text
    # Keep the object usable for further checks.
    session.refresh_token = rotated.json()["refresh_token"]
    session.access_token = rotated.json()["access_token"]


@pytest.mark.parametrize("scope", ["local", None])
async def test_logout_local_ends_only_the_current_session(
    ahttps: httpx.AsyncClient, scope: str | None
) -> None:
    first, second, third = await three_sessions(ahttps)
    response = await logout(ahttps, first, scope)
    assert response.status_code == 204, response.text
    await assert_session_dead(ahttps, first)
    await assert_session_alive(ahttps, second)
    await assert_session_alive(ahttps, third)


async def test_logout_others_keeps_only_the_current_session(ahttps: httpx.AsyncClient) -> None:
    first, second, third = await three_sessions(ahttps)
    response = await logout(ahttps, first, "others")
    assert response.status_code == 204, response.text
    await assert_session_alive(ahttps, first)
    await assert_session_dead(ahttps, second)
    await assert_session_dead(ahttps, third)


async def test_logout_global_ends_every_session(ahttps: httpx.AsyncClient) -> None:
    first, second, third = await three_sessions(ahttps)
    stranger = await asignup(ahttps)
    response = await logout(ahttps, second, "global")
    assert response.status_code == 204, response.text
    for session in (first, second, third):
        await assert_session_dead(ahttps, session)
    await assert_session_alive(ahttps, stranger)


async def test_logout_rejects_unknown_scope(ahttps: httpx.AsyncClient) -> None:
    user = await asignup(ahttps)
    response = await logout(ahttps, user, "everything")
    assert_problem(response, 422, "validation_failed")
    await assert_session_alive(ahttps, user)


async def test_logout_twice_is_unauthorized(ahttps: httpx.AsyncClient) -> None:
    user = await asignup(ahttps)
    assert (await logout(ahttps, user, "local")).status_code == 204
    assert_problem(await logout(ahttps, user, "local"), 401, "unauthorized")


async def test_session_list_marks_the_current_session(ahttps: httpx.AsyncClient) -> None:
    first, second, third = await three_sessions(ahttps)
    response = await ahttps.get("/auth/v1/sessions", headers=second.headers)
    assert response.status_code == 200, response.text
    sessions = response.json()
    assert {s["id"] for s in sessions} == {first.session_id, second.session_id, third.session_id}
    current = [s["id"] for s in sessions if s["current"]]
    assert current == [second.session_id]
    for session in sessions:
        assert session["created_at"] and session["refreshed_at"]
        assert "user_agent" in session and "ip" in session
    # Another user sees only their own.
    stranger = await asignup(ahttps)
    theirs = (await ahttps.get("/auth/v1/sessions", headers=stranger.headers)).json()
    assert [s["id"] for s in theirs] == [stranger.session_id]


async def test_session_list_records_the_user_agent(ahttps: httpx.AsyncClient) -> None:
    response = await ahttps.post(
        "/auth/v1/signup",
        json={
            "email": f"ua-{uuid.uuid4().hex[:8]}@school.example",
            "password": "a fine passphrase",
        },
        headers={"User-Agent": "SentinelTest/1.0"},
    )
    user = as_user("", "", response.json())
    (session,) = (await ahttps.get("/auth/v1/sessions", headers=user.headers)).json()
    assert session["user_agent"] == "SentinelTest/1.0"


async def test_revoking_another_session_kills_its_tokens(ahttps: httpx.AsyncClient) -> None:
    first, second, third = await three_sessions(ahttps)
    response = await ahttps.delete(f"/auth/v1/sessions/{second.session_id}", headers=first.headers)
    assert response.status_code == 204, response.text
    await assert_session_dead(ahttps, second)
    await assert_session_alive(ahttps, first)
    await assert_session_alive(ahttps, third)
    listed = (await ahttps.get("/auth/v1/sessions", headers=first.headers)).json()
    assert second.session_id not in {s["id"] for s in listed}
    # Revoking it again: it is no longer an active session.
    again = await ahttps.delete(f"/auth/v1/sessions/{second.session_id}", headers=first.headers)
    assert_problem(again, 404, "not_found")


async def test_revoking_the_current_session_ends_it(ahttps: httpx.AsyncClient) -> None:
    user = await asignup(ahttps)
    response = await ahttps.delete(f"/auth/v1/sessions/{user.session_id}", headers=user.headers)
    assert response.status_code == 204, response.text
    await assert_session_dead(ahttps, user)


async def test_revoking_a_random_session_is_not_found(ahttps: httpx.AsyncClient) -> None:
    user = await asignup(ahttps)
    response = await ahttps.delete(f"/auth/v1/sessions/{uuid.uuid4()}", headers=user.headers)
    assert_problem(response, 404, "not_found")
    malformed = await ahttps.delete("/auth/v1/sessions/not-a-uuid", headers=user.headers)
    assert malformed.status_code == 422
    await assert_session_alive(ahttps, user)


async def test_revoking_another_users_session_is_not_found(ahttps: httpx.AsyncClient) -> None:
    attacker = await asignup(ahttps)
    victim = await asignup(ahttps)
    response = await ahttps.delete(
        f"/auth/v1/sessions/{victim.session_id}", headers=attacker.headers
    )
    assert_problem(response, 404, "not_found")
    await assert_session_alive(ahttps, victim)
    await assert_session_alive(ahttps, attacker)


async def test_session_endpoints_need_a_token(ahttps: httpx.AsyncClient) -> None:
    assert_problem(await ahttps.get("/auth/v1/sessions"), 401, "unauthorized")
    assert_problem(await ahttps.post("/auth/v1/logout"), 401, "unauthorized")
    assert_problem(await ahttps.delete(f"/auth/v1/sessions/{uuid.uuid4()}"), 401, "unauthorized")
    assert_problem(
        await ahttps.get("/auth/v1/sessions", headers=bearer("nope")), 401, "unauthorized"
    )


async def test_revoked_session_cannot_write_even_without_redis(
    stack: Stack, ahttps: httpx.AsyncClient
) -> None:
    """Redis is only the fast path: with it unreachable, writes still consult PostgreSQL."""
    revoked = await asignup(ahttps)
    alive = await asignup(ahttps)
    assert (await logout(ahttps, revoked, "local")).status_code == 204
    (dead_port,) = free_ports(1)
    async with in_process_api(stack.settings, redis_port=dead_port) as api:
        assert_problem(await create_org(api, revoked.access_token), 401, "unauthorized")
        # Control: a live session can still pass authentication in the same app (the org
        # limiter then fails closed without Redis, which is not an authentication answer).
        response = await create_org(api, alive.access_token)
        assert response.status_code != 401, response.text
