"""With an external identity provider (Supabase Auth), the global limit still counts per user.

Proves, with the real app in process against the stack's PostgreSQL and Redis, that a valid
token of the configured Supabase project puts its user in a bucket of their own (100 requests
a minute), so that the staff of a school behind one NAT address do not share a single bucket,
while a token the project did not sign is counted against the address.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import OctKey
from pydantic import SecretStr

from sentinel.config import Settings
from tests.ratelimit.checks import assert_allowed, assert_rate_limited
from tests.ratelimit.conftest import PRODUCTION_LIMITS, in_process_api

PROJECT = "https://project.supabase.example"
SECRET = "rate-limit-test-secret-with-at-least-32-characters"


def _token(secret: str = SECRET) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": f"{PROJECT}/auth/v1",
        "aud": "authenticated",
        "sub": str(uuid.uuid4()),
        "email": f"sb-{uuid.uuid4().hex[:10]}@school.example",
        "iat": now,
        "exp": now + 600,
    }
    return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, OctKey.import_key(secret))


async def test_external_users_have_buckets_of_their_own(settings: Settings) -> None:
    external = settings.model_copy(
        update={
            **PRODUCTION_LIMITS,
            "auth_provider": "supabase",
            "supabase_url": PROJECT,
            "supabase_jwt_secret": SecretStr(SECRET),
        }
    )
    first, second = ({"Authorization": f"Bearer {_token()}"} for _ in range(2))
    async with in_process_api(external) as api:
        for n in range(100):
            assert_allowed(await api.get("/api/v1/orgs", headers=first), 200, 100, 99 - n)
        assert_rate_limited(await api.get("/api/v1/orgs", headers=first), 100, 60)
        # Same address, another user: a fresh bucket.
        assert_allowed(await api.get("/api/v1/orgs", headers=second), 200, 100, 99)
        # A token signed with another secret is not a user: the address pays.
        forged = {"Authorization": f"Bearer {_token('x' * 48)}"}
        assert_allowed(await api.get("/api/v1/orgs", headers=forged), 401, 100, 99)
        assert_allowed(await api.get("/auth/v1/.well-known/jwks.json"), 200, 100, 98)
