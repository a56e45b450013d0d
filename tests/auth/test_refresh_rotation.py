"""Refresh-token rotation: every refresh hands out a new token; re-presenting a rotated token
within the grace window returns the current successor; after the window it is treated as theft,
answered with `invalid_grant`, and the whole session (successor and access tokens) dies at once.
"""

from __future__ import annotations

import asyncio

import httpx

from sentinel.stack.launcher import Stack
from tests.auth.helpers import (
    asignup,
    assert_problem,
    assert_token_refused,
    assert_token_works,
    create_org,
    in_process_api,
    refresh,
    unverified_part,
)


async def test_refresh_rotates_the_refresh_token(ahttps: httpx.AsyncClient) -> None:
    user = await asignup(ahttps)
    response = await refresh(ahttps, user.refresh_token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["refresh_token"] != user.refresh_token
    assert body["refresh_token"].startswith("srt_")
    assert body["token_type"] == "bearer"
    assert body["user"]["id"] == user.id
    claims = unverified_part(body["access_token"], 1)
    assert claims["sub"] == user.id
    assert claims["sid"] == user.session_id, "a refresh stays in the same session"
    await assert_token_works(ahttps, body["access_token"])
    # The successor rotates too.
    again = await refresh(ahttps, body["refresh_token"])
    assert again.status_code == 200, again.text
    assert again.json()["refresh_token"] not in (user.refresh_token, body["refresh_token"])


async def test_rotated_token_within_grace_returns_the_current_successor(
    ahttps: httpx.AsyncClient,
) -> None:
    user = await asignup(ahttps)
    first = await refresh(ahttps, user.refresh_token)
    successor = first.json()["refresh_token"]
    replay = await refresh(ahttps, user.refresh_token)
    assert replay.status_code == 200, replay.text
    assert replay.json()["refresh_token"] == successor
    await assert_token_works(ahttps, replay.json()["access_token"])
    # The replay did not end the session: the successor still rotates normally.
    onward = await refresh(ahttps, successor)
    assert onward.status_code == 200, onward.text
    newest = onward.json()["refresh_token"]
    assert newest != successor
    # A grandparent within the window also gets the session's *current* token.
    late_replay = await refresh(ahttps, user.refresh_token)
    assert late_replay.status_code == 200, late_replay.text
    assert late_replay.json()["refresh_token"] == newest


async def test_concurrent_refreshes_of_one_token_agree(ahttps: httpx.AsyncClient) -> None:
    """Two tabs racing with the same token both succeed and end up with the same successor."""
    user = await asignup(ahttps)
    responses = await asyncio.gather(*(refresh(ahttps, user.refresh_token) for _ in range(4)))
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    assert len({r.json()["refresh_token"] for r in responses}) == 1


async def test_unknown_refresh_token_is_invalid_grant(ahttps: httpx.AsyncClient) -> None:
    assert_problem(await refresh(ahttps, "srt_" + "A" * 43), 400, "invalid_grant")
    assert_problem(await refresh(ahttps, "garbage"), 400, "invalid_grant")


async def test_refresh_after_logout_is_invalid_grant(ahttps: httpx.AsyncClient) -> None:
    user = await asignup(ahttps)
    out = await ahttps.post("/auth/v1/logout", headers=user.headers)
    assert out.status_code == 204, out.text
    assert_problem(await refresh(ahttps, user.refresh_token), 400, "invalid_grant")


async def test_reuse_after_grace_revokes_the_whole_session(stack: Stack) -> None:
    async with in_process_api(stack.settings, refresh_reuse_grace_seconds=1.0) as api:
        user = await asignup(api)
        bystander = await asignup(api)  # another user's session must be untouched
        rotated = await refresh(api, user.refresh_token)
        assert rotated.status_code == 200, rotated.text
        successor = rotated.json()["refresh_token"]
        successor_access = rotated.json()["access_token"]
        await assert_token_works(api, successor_access)

        await asyncio.sleep(1.6)
        reuse = await refresh(api, user.refresh_token)
        assert_problem(reuse, 400, "invalid_grant")

        # The whole family is dead: the successor no longer refreshes ...
        assert_problem(await refresh(api, successor), 400, "invalid_grant")
        # ... and every access token of the session is refused at once, on reads and writes.
        await assert_token_refused(api, successor_access)
        await assert_token_refused(api, user.access_token)
        # The bystander's session lives on.
        await assert_token_works(api, bystander.access_token)
        assert (await create_org(api, bystander.access_token)).status_code == 201
        assert (await refresh(api, bystander.refresh_token)).status_code == 200


async def test_reuse_after_grace_is_seen_by_the_stack_api_too(
    stack: Stack, ahttps: httpx.AsyncClient
) -> None:
    """The revocation is shared state (PostgreSQL + Redis), not a per-process memory."""
    async with in_process_api(stack.settings, refresh_reuse_grace_seconds=1.0) as api:
        user = await asignup(api)
        rotated = await refresh(api, user.refresh_token)
        successor_access = rotated.json()["access_token"]
        await asyncio.sleep(1.6)
        assert_problem(await refresh(api, user.refresh_token), 400, "invalid_grant")
    await assert_token_refused(ahttps, successor_access)
    await assert_token_refused(ahttps, user.access_token)
