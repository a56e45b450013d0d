"""Access tokens: every malformed, forged or foreign token is refused with 401 problem+json on
reads and writes alike, while a correctly self-signed token with all claims is accepted (so the
matrix is not vacuous). Also the JWKS endpoint: one public ES256 key that verifies our tokens.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey, KeySet

from sentinel.config import Settings
from sentinel.stack.launcher import Stack
from sentinel.stack.secrets import Secrets
from tests.auth.helpers import (
    asignup,
    assert_problem,
    b64url,
    b64url_json,
    bearer,
    create_org,
    sign_es256,
    sign_hs256_raw,
    standard_claims,
    unsigned,
    unverified_part,
)
from tests.harness import trust
from tests.people import User


@dataclass(frozen=True)
class Ctx:
    settings: Settings
    key: ECKey  # the server's real signing key
    jwks: dict[str, Any]  # as published by the server
    user: User
    victim: User

    def claims(self, **overrides: Any) -> dict[str, Any]:
        return standard_claims(self.settings, self.user.id, self.user.session_id, **overrides)

    def signed(self, **overrides: Any) -> str:
        return sign_es256(self.claims(**overrides), self.key, kid=self.key.thumbprint())


@pytest.fixture(scope="module")
async def ctx(stack: Stack, secrets: Secrets) -> AsyncIterator[Ctx]:
    async with httpx.AsyncClient(
        base_url=stack.settings.public_url, verify=trust(stack.settings), timeout=10
    ) as client:
        user = await asignup(client)
        victim = await asignup(client)
        jwks = (await client.get("/auth/v1/.well-known/jwks.json")).json()
    yield Ctx(stack.settings, ECKey.import_key(secrets.jwt_signing_key_pem), jwks, user, victim)


def _expired(c: Ctx) -> dict[str, str]:
    now = int(time.time())
    return bearer(c.signed(iat=now - 7200, exp=now - 3600))


def _other_key(c: Ctx) -> dict[str, str]:
    other = ECKey.generate_key("P-256")
    return bearer(sign_es256(c.claims(), other, kid=c.key.thumbprint()))


def _other_key_embedded_jwk(c: Ctx) -> dict[str, str]:
    other = ECKey.generate_key("P-256")
    return bearer(sign_es256(c.claims(), other, jwk=other.as_dict(private=False)))


def _alg_none(c: Ctx) -> dict[str, str]:
    return bearer(unsigned(c.claims()))


def _alg_none_capitalised(c: Ctx) -> dict[str, str]:
    return bearer(unsigned(c.claims(), alg="None"))


def _hs256_public_pem(c: Ctx) -> dict[str, str]:
    header = {"alg": "HS256", "typ": "JWT", "kid": c.key.thumbprint()}
    return bearer(sign_hs256_raw(header, c.claims(), c.key.as_pem(private=False)))


def _hs256_public_jwk(c: Ctx) -> dict[str, str]:
    header = {"alg": "HS256", "typ": "JWT", "kid": c.key.thumbprint()}
    secret = json.dumps(c.jwks["keys"][0]).encode()
    return bearer(sign_hs256_raw(header, c.claims(), secret))


def _zero_signature(c: Ctx) -> dict[str, str]:
    # "Psychic signature" (r = s = 0), which broken ECDSA verifiers accept.
    header = {"alg": "ES256", "typ": "JWT", "kid": c.key.thumbprint()}
    return bearer(f"{b64url_json(header)}.{b64url_json(c.claims())}.{b64url(bytes(64))}")


def _wrong_audience(c: Ctx) -> dict[str, str]:
    return bearer(c.signed(aud="someone-else"))


def _wrong_issuer(c: Ctx) -> dict[str, str]:
    return bearer(c.signed(iss="https://evil.example/auth/v1"))


def _tampered_sub(c: Ctx) -> dict[str, str]:
    header, _, signature = c.user.access_token.split(".")
    payload = unverified_part(c.user.access_token, 1)
    payload["sub"] = c.victim.id
    return bearer(f"{header}.{b64url_json(payload)}.{signature}")


def _missing_sid(c: Ctx) -> dict[str, str]:
    claims = c.claims()
    del claims["sid"]
    return bearer(sign_es256(claims, c.key, kid=c.key.thumbprint()))


def _missing_exp(c: Ctx) -> dict[str, str]:
    claims = c.claims()
    del claims["exp"]
    return bearer(sign_es256(claims, c.key, kid=c.key.thumbprint()))


def _sub_not_uuid(c: Ctx) -> dict[str, str]:
    return bearer(c.signed(sub="not-a-uuid"))


def _sid_not_uuid(c: Ctx) -> dict[str, str]:
    return bearer(c.signed(sid=12345))


def _refresh_token_as_access(c: Ctx) -> dict[str, str]:
    return bearer(c.user.refresh_token)


def _garbage(c: Ctx) -> dict[str, str]:
    return bearer("this-is-not-a-jwt")


def _garbage_three_parts(c: Ctx) -> dict[str, str]:
    return bearer("aaa.bbb.ccc")


def _empty_bearer(c: Ctx) -> dict[str, str]:
    return {"Authorization": "Bearer"}


def _no_credentials(c: Ctx) -> dict[str, str]:
    return {}


def _basic_scheme(c: Ctx) -> dict[str, str]:
    return {"Authorization": f"Basic {c.user.access_token}"}


REJECTED: dict[str, Callable[[Ctx], dict[str, str]]] = {
    "expired": _expired,
    "signed_by_another_key": _other_key,
    "another_key_with_embedded_jwk_header": _other_key_embedded_jwk,
    "alg_none": _alg_none,
    "alg_None": _alg_none_capitalised,
    "hs256_with_public_pem": _hs256_public_pem,
    "hs256_with_public_jwk_json": _hs256_public_jwk,
    "zero_signature": _zero_signature,
    "wrong_audience": _wrong_audience,
    "wrong_issuer": _wrong_issuer,
    "tampered_sub": _tampered_sub,
    "missing_sid": _missing_sid,
    "missing_exp": _missing_exp,
    "sub_not_uuid": _sub_not_uuid,
    "sid_not_uuid": _sid_not_uuid,
    "refresh_token_as_access_token": _refresh_token_as_access,
    "garbage": _garbage,
    "garbage_three_parts": _garbage_three_parts,
    "empty_bearer": _empty_bearer,
    "no_credentials": _no_credentials,
    "basic_scheme": _basic_scheme,
}


@pytest.mark.parametrize("case", sorted(REJECTED))
async def test_bad_access_token_is_refused(ctx: Ctx, ahttps: httpx.AsyncClient, case: str) -> None:
    headers = REJECTED[case](ctx)
    read = await ahttps.get("/auth/v1/user", headers=headers)
    body = assert_problem(read, 401, "unauthorized")
    assert read.headers["www-authenticate"].lower().startswith("bearer")
    assert ctx.user.id not in read.text and ctx.victim.id not in read.text
    assert body["title"] and body["detail"]
    write = await ahttps.post("/api/v1/orgs", json={"name": "Never made"}, headers=headers)
    assert_problem(write, 401, "unauthorized")


async def test_self_signed_token_with_all_claims_is_accepted(
    ctx: Ctx, ahttps: httpx.AsyncClient
) -> None:
    """Positive control: the same construction as the matrix, but nothing wrong with it."""
    token = ctx.signed()
    read = await ahttps.get("/auth/v1/user", headers=bearer(token))
    assert read.status_code == 200, read.text
    assert read.json()["id"] == ctx.user.id
    write = await create_org(ahttps, token)
    assert write.status_code == 201, write.text


async def test_tampered_token_does_not_reach_the_victim(
    ctx: Ctx, ahttps: httpx.AsyncClient
) -> None:
    """The untampered original works, so only the payload edit made the difference."""
    original = await ahttps.get("/auth/v1/user", headers=bearer(ctx.user.access_token))
    assert original.status_code == 200 and original.json()["id"] == ctx.user.id


async def test_jwks_publishes_exactly_one_public_es256_key(
    ctx: Ctx, ahttps: httpx.AsyncClient
) -> None:
    response = await ahttps.get("/auth/v1/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert len(keys) == 1
    (key,) = keys
    assert key["kty"] == "EC" and key["crv"] == "P-256" and key["alg"] == "ES256"
    assert key["use"] == "sig"
    assert "d" not in key, "the private scalar must never be published"
    header = unverified_part(ctx.user.access_token, 0)
    assert header["alg"] == "ES256"
    assert header["kid"] == key["kid"]


async def test_jwks_key_verifies_issued_tokens(ctx: Ctx, ahttps: httpx.AsyncClient) -> None:
    keys = KeySet.import_key_set((await ahttps.get("/auth/v1/.well-known/jwks.json")).json())
    decoded = jwt.decode(ctx.user.access_token, keys, algorithms=["ES256"])
    assert decoded.claims["sub"] == ctx.user.id
    assert decoded.claims["sid"] == ctx.user.session_id
    assert decoded.claims["iss"] == ctx.settings.jwt_issuer
    assert decoded.claims["aud"] == ctx.settings.jwt_audience
    # ... and it does not verify a token from another key with the same kid.
    forged = sign_es256(ctx.claims(), ECKey.generate_key("P-256"), kid=keys.keys[0].kid)
    with pytest.raises(BadSignatureError):
        jwt.decode(forged, keys, algorithms=["ES256"])


async def test_bearer_scheme_is_case_insensitive(ctx: Ctx, ahttps: httpx.AsyncClient) -> None:
    for scheme in ("bearer", "BEARER"):
        headers = {"Authorization": f"{scheme} {ctx.user.access_token}"}
        response = await ahttps.get("/auth/v1/user", headers=headers)
        assert response.status_code == 200, (scheme, response.text)
