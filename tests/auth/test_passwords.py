"""Sign-up and password login: the password policy, unique case-insensitive emails stored in
lowercase, indistinguishable failures for wrong password and unknown email, Argon2id hashes,
and refresh tokens that never persist in the clear.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from sentinel.config import Settings
from tests.auth.helpers import alogin, asignup, assert_problem, owner_db, refresh
from tests.people import PASSWORD, unique_email


async def signup_raw(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/auth/v1/signup", json={"email": email, "password": password})


async def password_grant(client: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await client.post("/auth/v1/token", params={"grant_type": "password"}, json=body)


WEAK = {
    "too_short": lambda email: "Ab3$xyz",
    "common": lambda email: "password123",
    "common_other_case": lambda email: "PassWord123",
    "equal_to_email": lambda email: email,
    "equal_to_email_other_case": lambda email: email.upper(),
    "too_few_distinct_characters": lambda email: "abababababab",
    "too_long": lambda email: "Long passphrase " * 20,
}


@pytest.mark.parametrize("case", sorted(WEAK))
async def test_weak_password_is_refused(
    ahttps: httpx.AsyncClient, settings: Settings, case: str
) -> None:
    email = unique_email("weak")
    response = await signup_raw(ahttps, email, WEAK[case](email))
    assert_problem(response, 422, "weak_password")
    async with owner_db(settings) as db:
        assert await db.fetchval("SELECT count(*) FROM control.users WHERE email = $1", email) == 0


async def test_strong_password_is_accepted(ahttps: httpx.AsyncClient) -> None:
    """Control for the policy cases: a long, varied passphrase passes."""
    response = await signup_raw(ahttps, unique_email("strong"), "Purple-Giraffe-Orbit-42")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    assert body["access_token"] and body["refresh_token"].startswith("srt_")
    assert set(body["user"]) == {"id", "email", "aud", "role", "created_at", "last_sign_in_at"}


async def test_duplicate_email_is_refused_in_any_case(ahttps: httpx.AsyncClient) -> None:
    email = unique_email("dup")
    await asignup(ahttps, email)
    assert_problem(await signup_raw(ahttps, email, PASSWORD), 422, "email_exists")
    assert_problem(await signup_raw(ahttps, email.upper(), PASSWORD), 422, "email_exists")
    local, _, domain = email.partition("@")
    mixed = f"{local.capitalize()}@{domain.upper()}"
    assert_problem(await signup_raw(ahttps, mixed, "Other passphrase 99"), 422, "email_exists")


async def test_email_is_stored_lowercase_and_login_ignores_case(
    ahttps: httpx.AsyncClient, settings: Settings
) -> None:
    email = unique_email("Mixed.Case").replace("school.example", "School.EXAMPLE")
    response = await signup_raw(ahttps, email, PASSWORD)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == email.lower()
    user_id = response.json()["user"]["id"]
    async with owner_db(settings) as db:
        stored = await db.fetchval("SELECT email::text FROM control.users WHERE id = $1", user_id)
    assert stored == email.lower()
    for variant in (email, email.lower(), email.upper()):
        assert (await alogin(ahttps, variant)).id == user_id


async def test_wrong_password_and_unknown_email_look_the_same(ahttps: httpx.AsyncClient) -> None:
    user = await asignup(ahttps)
    wrong = await password_grant(ahttps, {"email": user.email, "password": "not the password"})
    unknown = await password_grant(
        ahttps, {"email": unique_email("nobody"), "password": "not the password"}
    )
    assert_problem(wrong, 400, "invalid_credentials")
    assert_problem(unknown, 400, "invalid_credentials")
    assert wrong.json() == unknown.json()
    assert wrong.headers["content-type"] == unknown.headers["content-type"]
    # Control: the right password does work.
    assert (await alogin(ahttps, user.email)).id == user.id


async def test_login_returns_a_new_session(ahttps: httpx.AsyncClient) -> None:
    user = await asignup(ahttps)
    again = await alogin(ahttps, user.email)
    assert again.id == user.id
    assert again.session_id != user.session_id
    assert again.refresh_token != user.refresh_token
    me = await ahttps.get("/auth/v1/user", headers=again.headers)
    assert me.status_code == 200
    assert me.json()["email"] == user.email and me.json()["last_sign_in_at"]


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "someone@school.example"},
        {"password": PASSWORD},
        ["a", "list"],
        {"email": "someone@school.example", "password": ""},
    ],
    ids=["bad_email", "no_password", "no_email", "list_body", "empty_password"],
)
async def test_malformed_password_grant_is_a_validation_error(
    ahttps: httpx.AsyncClient, body: Any
) -> None:
    assert_problem(await password_grant(ahttps, body), 422, "validation_failed")


async def test_password_grant_with_invalid_json_is_a_validation_error(
    ahttps: httpx.AsyncClient,
) -> None:
    response = await ahttps.post(
        "/auth/v1/token",
        params={"grant_type": "password"},
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 422, "validation_failed")


async def test_malformed_refresh_grant_is_a_validation_error(ahttps: httpx.AsyncClient) -> None:
    response = await ahttps.post(
        "/auth/v1/token", params={"grant_type": "refresh_token"}, json={"token": "x"}
    )
    assert_problem(response, 422, "validation_failed")


async def test_unknown_grant_type_is_refused(ahttps: httpx.AsyncClient) -> None:
    response = await ahttps.post(
        "/auth/v1/token", params={"grant_type": "client_credentials"}, json={}
    )
    assert_problem(response, 422, "validation_failed")


async def test_password_hash_is_argon2id(ahttps: httpx.AsyncClient, settings: Settings) -> None:
    user = await asignup(ahttps)
    async with owner_db(settings) as db:
        stored = await db.fetchval(
            "SELECT password_hash FROM control.users WHERE id = $1::uuid", user.id
        )
    assert stored.startswith("$argon2id$"), stored
    assert PASSWORD not in stored


async def test_refresh_tokens_never_persist_in_the_clear(
    ahttps: httpx.AsyncClient, settings: Settings
) -> None:
    user = await asignup(ahttps)
    rotated = (await refresh(ahttps, user.refresh_token)).json()["refresh_token"]
    tokens = [user.refresh_token, rotated]
    async with owner_db(settings) as db:
        rows = await db.fetch(
            """SELECT rt.*, rt::text AS as_text FROM control.refresh_tokens rt
               JOIN control.sessions s ON s.id = rt.session_id WHERE s.user_id = $1::uuid""",
            user.id,
        )
        every_row = await db.fetch("SELECT rt::text AS as_text FROM control.refresh_tokens rt")
        sessions = await db.fetch(
            "SELECT s::text AS as_text FROM control.sessions s WHERE user_id = $1::uuid", user.id
        )
    assert len(rows) == 2
    for token in tokens:
        raw_digest = base64.urlsafe_b64decode(token.removeprefix("srt_") + "=")
        for row in rows:
            for value in row.values():
                if isinstance(value, bytes):
                    assert token.encode() not in value
                    assert raw_digest not in value
                elif isinstance(value, str):
                    assert token not in value
                    assert token.removeprefix("srt_") not in value
        assert all(token not in r["as_text"] for r in every_row)
        assert all(token not in r["as_text"] for r in sessions)
    # Non-vacuous: the rows found are these tokens' (by their SHA-256 lookup hash).
    assert {bytes(r["token_hash"]) for r in rows} == {
        hashlib.sha256(t.encode()).digest() for t in tokens
    }


async def test_concurrent_signups_with_one_email_make_one_user(
    ahttps: httpx.AsyncClient, settings: Settings
) -> None:
    email = unique_email("race")
    variants = [email, email.upper(), email, email.capitalize()]
    responses = await asyncio.gather(*(signup_raw(ahttps, v, PASSWORD) for v in variants))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 422, 422, 422], [r.text for r in responses]
    for response in responses:
        if response.status_code == 422:
            assert response.json()["code"] == "email_exists"
    async with owner_db(settings) as db:
        assert await db.fetchval("SELECT count(*) FROM control.users WHERE email = $1", email) == 1


async def test_login_upgrades_a_weaker_hash(ahttps: httpx.AsyncClient, settings: Settings) -> None:
    """A hash made with weaker (older) parameters still logs in and is re-hashed on the way."""
    user = await asignup(ahttps)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    async with owner_db(settings) as db:
        await db.execute(
            "UPDATE control.users SET password_hash = $2 WHERE id = $1::uuid", user.id, weak
        )
        assert (await alogin(ahttps, user.email)).id == user.id
        stored = await db.fetchval(
            "SELECT password_hash FROM control.users WHERE id = $1::uuid", user.id
        )
    assert stored != weak and stored.startswith("$argon2id$")
    assert not PasswordHasher().check_needs_rehash(stored)
    assert (await alogin(ahttps, user.email)).id == user.id
