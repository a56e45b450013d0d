"""External identity (Supabase Auth): tokens of the configured project are verified — with the
HS256 project secret or a JWKS fetched over HTTP from a real local server — issuer, audience and
expiry are enforced, `sub` maps to one stable local user, and local sign-up/password/refresh
grants are refused with `external_auth_provider`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey
from pydantic import SecretStr

from sentinel.auth.verifier import SupabaseVerifier
from sentinel.config import Settings
from sentinel.stack.launcher import Stack
from tests.auth.helpers import (
    asignup,
    assert_problem,
    bearer,
    create_org,
    in_process_api,
    owner_db,
    sign_es256,
    sign_hs256_raw,
    unsigned,
)

PROJECT = "https://project.supabase.example"
ISSUER = f"{PROJECT}/auth/v1"
SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"


def supabase_claims(sub: str | None = None, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": "authenticated",
        "sub": sub or str(uuid.uuid4()),
        "email": f"sb-{uuid.uuid4().hex[:10]}@school.example",
        "role": "authenticated",
        "iat": now,
        "exp": now + 3600,
        "session_id": str(uuid.uuid4()),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def hs256(claims: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, OctKey.import_key(secret))


# --- HS256 secret mode ----------------------------------------------------------------------


@pytest.fixture(scope="module")
async def secret_api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process_api(
        stack.settings,
        auth_provider="supabase",
        supabase_url=PROJECT,
        supabase_jwt_secret=SecretStr(SECRET),
    ) as client:
        yield client


async def local_row(settings: Settings, sub: str) -> Any:
    async with owner_db(settings) as db:
        return await db.fetch(
            "SELECT id, email::text AS email, password_hash FROM control.users "
            "WHERE external_sub = $1",
            sub,
        )


async def test_secret_token_maps_to_one_stable_local_user(
    secret_api: httpx.AsyncClient, settings: Settings
) -> None:
    claims = supabase_claims()
    first = await secret_api.get("/auth/v1/user", headers=bearer(hs256(claims)))
    assert first.status_code == 200, first.text
    assert first.json()["email"] == claims["email"]
    # A later token for the same subject (another session, later iat) is the same local user.
    later = supabase_claims(claims["sub"], email=claims["email"], iat=int(time.time()) + 1)
    second = await secret_api.get("/auth/v1/user", headers=bearer(hs256(later)))
    assert second.status_code == 200, second.text
    assert second.json()["id"] == first.json()["id"]
    rows = await local_row(settings, claims["sub"])
    assert len(rows) == 1
    assert str(rows[0]["id"]) == first.json()["id"]
    assert rows[0]["email"] == claims["email"]
    assert rows[0]["password_hash"] is None, "external users have no local password"


async def test_first_sight_races_map_to_one_user(
    secret_api: httpx.AsyncClient, settings: Settings
) -> None:
    claims = supabase_claims()
    token = hs256(claims)
    responses = await asyncio.gather(
        *(secret_api.get("/auth/v1/user", headers=bearer(token)) for _ in range(5))
    )
    assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(await local_row(settings, claims["sub"])) == 1


async def test_secret_token_can_write(secret_api: httpx.AsyncClient) -> None:
    token = hs256(supabase_claims())
    response = await create_org(secret_api, token)
    assert response.status_code == 201, response.text
    listed = await secret_api.get("/api/v1/orgs", headers=bearer(token))
    assert [o["id"] for o in listed.json()] == [response.json()["id"]]


def _rejected_secret_tokens() -> dict[str, str]:
    now = int(time.time())
    no_sub = supabase_claims()
    del no_sub["sub"]
    no_exp = supabase_claims()
    del no_exp["exp"]
    return {
        "wrong_secret": hs256(supabase_claims(), "another-secret-another-secret-another-secret"),
        "wrong_issuer": hs256(supabase_claims(iss="https://other.supabase.example/auth/v1")),
        "bare_supabase_issuer": hs256(supabase_claims(iss="supabase")),
        "wrong_audience": hs256(supabase_claims(aud="anon")),
        "expired": hs256(supabase_claims(iat=now - 7200, exp=now - 3600)),
        "missing_sub": hs256(no_sub),
        "missing_exp": hs256(no_exp),
        "alg_none": unsigned(supabase_claims()),
        "es256_from_unknown_key": sign_es256(supabase_claims(), ECKey.generate_key("P-256")),
        "garbage": "garbage",
    }


@pytest.mark.parametrize("case", sorted(_rejected_secret_tokens()))
async def test_bad_supabase_token_is_refused(
    secret_api: httpx.AsyncClient, settings: Settings, case: str
) -> None:
    token = _rejected_secret_tokens()[case]
    assert_problem(
        await secret_api.get("/auth/v1/user", headers=bearer(token)), 401, "unauthorized"
    )
    assert_problem(await create_org(secret_api, token), 401, "unauthorized")


async def test_rejected_token_creates_no_local_user(
    secret_api: httpx.AsyncClient, settings: Settings
) -> None:
    claims = supabase_claims()
    token = hs256(claims, "another-secret-another-secret-another-secret")
    assert (await secret_api.get("/auth/v1/user", headers=bearer(token))).status_code == 401
    assert await local_row(settings, claims["sub"]) == []


async def test_our_own_local_token_is_not_accepted_in_supabase_mode(
    secret_api: httpx.AsyncClient, ahttps: httpx.AsyncClient
) -> None:
    local = await asignup(ahttps)
    response = await secret_api.get("/auth/v1/user", headers=local.headers)
    assert_problem(response, 401, "unauthorized")


async def test_new_subject_without_email_is_refused(
    secret_api: httpx.AsyncClient, settings: Settings
) -> None:
    claims = supabase_claims(email=None)
    response = await secret_api.get("/auth/v1/user", headers=bearer(hs256(claims)))
    assert_problem(response, 401, "unauthorized")
    assert await local_row(settings, claims["sub"]) == []


async def test_external_subject_cannot_take_over_a_local_account(
    secret_api: httpx.AsyncClient, ahttps: httpx.AsyncClient, settings: Settings
) -> None:
    """A Supabase identity that merely claims an existing local user's email is not that user."""
    victim = await asignup(ahttps)
    for email in (victim.email, victim.email.upper()):
        claims = supabase_claims(email=email)
        response = await secret_api.get("/auth/v1/user", headers=bearer(hs256(claims)))
        assert_problem(response, 401, "unauthorized")
    async with owner_db(settings) as db:
        linked = await db.fetchval(
            "SELECT external_sub FROM control.users WHERE id = $1::uuid", victim.id
        )
    assert linked is None


async def test_malformed_session_claim_is_unauthorized_not_a_crash(
    secret_api: httpx.AsyncClient,
) -> None:
    for session in ("not-a-uuid", 42):
        token = hs256(supabase_claims(session_id=session))
        response = await secret_api.get("/auth/v1/user", headers=bearer(token))
        assert_problem(response, 401, "unauthorized")


async def test_external_email_is_stored_lowercase(
    secret_api: httpx.AsyncClient, settings: Settings
) -> None:
    claims = supabase_claims(email=f"Mixed-{uuid.uuid4().hex[:8]}@School.Example")
    response = await secret_api.get("/auth/v1/user", headers=bearer(hs256(claims)))
    assert response.status_code == 200, response.text
    assert response.json()["email"] == claims["email"].lower()
    (row,) = await local_row(settings, claims["sub"])
    assert row["email"] == claims["email"].lower()


async def test_local_grants_are_refused_in_supabase_mode(secret_api: httpx.AsyncClient) -> None:
    creds = {"email": "someone@school.example", "password": "a fine passphrase"}
    assert_problem(
        await secret_api.post("/auth/v1/signup", json=creds), 400, "external_auth_provider"
    )
    password = await secret_api.post(
        "/auth/v1/token", params={"grant_type": "password"}, json=creds
    )
    assert_problem(password, 400, "external_auth_provider")
    refreshed = await secret_api.post(
        "/auth/v1/token", params={"grant_type": "refresh_token"}, json={"refresh_token": "srt_x"}
    )
    assert_problem(refreshed, 400, "external_auth_provider")


# --- JWKS mode ------------------------------------------------------------------------------


class JwksServer:
    """A real HTTP server on 127.0.0.1 standing in for the project's JWKS endpoint."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                body = json.dumps(server.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/auth/v1/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def publish(self, *keys: ECKey) -> None:
        self.document = {
            "keys": [{**k.as_dict(private=False), "alg": "ES256", "use": "sig"} for k in keys]
        }

    def __enter__(self) -> JwksServer:
        self.thread.start()
        return self

    def close(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join(timeout=5)
        self.httpd.server_close()

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    with JwksServer() as server:
        yield server


def es256(claims: dict[str, Any], key: ECKey, kid: str | None = None) -> str:
    return sign_es256(claims, key, kid=kid or key.kid)


def project_key(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid})


async def test_jwks_mode_accepts_project_tokens_and_refuses_others(
    stack: Stack, jwks_server: JwksServer, settings: Settings
) -> None:
    key = project_key("project-key-1")
    jwks_server.publish(key)
    async with in_process_api(
        stack.settings,
        auth_provider="supabase",
        supabase_url=PROJECT,
        supabase_jwks_url=jwks_server.url,
    ) as api:
        claims = supabase_claims()
        good = await api.get("/auth/v1/user", headers=bearer(es256(claims, key)))
        assert good.status_code == 200, good.text
        assert len(await local_row(settings, claims["sub"])) == 1
        assert (await create_org(api, es256(supabase_claims(), key))).status_code == 201

        intruder = project_key("project-key-1")  # same kid, different key
        refused = {
            "other_key_same_kid": es256(supabase_claims(), intruder),
            "other_key_other_kid": es256(supabase_claims(), project_key("x")),
            "hs256_with_public_jwk": sign_hs256_raw(
                {"alg": "HS256", "typ": "JWT", "kid": "project-key-1"},
                supabase_claims(),
                json.dumps(jwks_server.document["keys"][0]).encode(),
            ),
            "wrong_issuer": es256(supabase_claims(iss="https://evil.example/auth/v1"), key),
            "wrong_audience": es256(supabase_claims(aud="service_role"), key),
            "expired": es256(supabase_claims(exp=int(time.time()) - 3600), key),
            "alg_none": unsigned(supabase_claims()),
            "garbage": "garbage",
        }
        for case, token in refused.items():
            response = await api.get("/auth/v1/user", headers=bearer(token))
            assert response.status_code == 401, (case, response.text)
            assert response.json()["code"] == "unauthorized", case
        # The key set is cached, not fetched per request.
        assert jwks_server.hits == 1


async def test_jwks_mode_follows_key_rotation_and_survives_an_outage(stack: Stack) -> None:
    """After the project rotates its signing key, tokens with the new `kid` are accepted without
    waiting for the cache to expire; unknown kids do not cause a fetch per request; while the
    JWKS endpoint is down, the keys already fetched keep working."""
    old, new = project_key("old"), project_key("new")
    with JwksServer() as server:
        server.publish(old)
        async with in_process_api(
            stack.settings,
            auth_provider="supabase",
            supabase_url=PROJECT,
            supabase_jwks_url=server.url,
        ) as api:

            async def status(key: ECKey) -> int:
                token = es256(supabase_claims(), key)
                return (await api.get("/auth/v1/user", headers=bearer(token))).status_code

            assert await status(old) == 200
            server.publish(old, new)
            # Right after a fetch, unknown kids are refused without asking the project again.
            for _ in range(5):
                assert await status(project_key(uuid.uuid4().hex)) == 401
            assert await status(new) == 401
            assert server.hits == 1, "unknown kids must not trigger a fetch each"

            await asyncio.sleep(SupabaseVerifier.JWKS_MIN_REFETCH + 0.5)
            assert await status(new) == 200
            assert server.hits == 2
            assert await status(old) == 200
            assert server.hits == 2

            server.close()
            await asyncio.sleep(SupabaseVerifier.JWKS_MIN_REFETCH + 0.5)
            assert await status(project_key("unknown")) == 401  # tries the dead endpoint
            assert await status(new) == 200, "the last good key set stays in use"
            assert await status(old) == 200


async def test_jwks_unreachable_is_unauthorized_not_a_crash(stack: Stack) -> None:
    with JwksServer() as server:
        url = server.url  # the port is free again once the server has stopped
    async with in_process_api(
        stack.settings,
        auth_provider="supabase",
        supabase_url=PROJECT,
        supabase_jwks_url=url,
    ) as api:
        token = es256(supabase_claims(), project_key("k"))
        assert_problem(await api.get("/auth/v1/user", headers=bearer(token)), 401, "unauthorized")


async def test_jwks_serving_garbage_is_unauthorized(stack: Stack, jwks_server: JwksServer) -> None:
    jwks_server.document = {"not": "a key set"}
    async with in_process_api(
        stack.settings,
        auth_provider="supabase",
        supabase_url=PROJECT,
        supabase_jwks_url=jwks_server.url,
    ) as api:
        token = es256(supabase_claims(), project_key("k"))
        assert_problem(await api.get("/auth/v1/user", headers=bearer(token)), 401, "unauthorized")
