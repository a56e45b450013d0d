"""Access tokens (ES256 JWTs, JWKS published) and opaque refresh tokens.

Refresh tokens never persist: the server stores SHA-256 of each (for lookup) and a random salt;
the raw value is HMAC(server key, salt), so the server can hand out a rotated token's current
successor again during the reuse grace window without having stored it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

ALGORITHM = "ES256"
REFRESH_PREFIX = "srt_"


class InvalidToken(Exception):
    """The token is not one this server accepts (reason kept for logs, not for clients)."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: UUID
    session_id: UUID | None
    email: str | None
    expires_at: int


class AccessTokens:
    def __init__(self, private_pem: str, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._key = ECKey.import_key(private_pem)
        self.kid = self._key.thumbprint()
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl_seconds
        self._claims = jwt.JWTClaimsRegistry(
            leeway=5,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            sid={"essential": True},
        )

    def issue(self, user_id: UUID, session_id: UUID, email: str) -> tuple[str, int]:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "sid": str(session_id),
            "iat": now,
            "exp": now + self.ttl,
            "email": email,
            "role": "authenticated",
        }
        token = jwt.encode({"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}, claims, self._key)
        return token, now + self.ttl

    def verify(self, token: str) -> AccessClaims:
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
            self._claims.validate(decoded.claims)
            claims: dict[str, Any] = decoded.claims
            sub, sid, email = claims["sub"], claims["sid"], claims.get("email")
            if not isinstance(sid, str) or not isinstance(email, str | None):
                raise TypeError("sid must be a string, email a string if present")
            return AccessClaims(UUID(sub), UUID(sid), email, int(claims["exp"]))
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise InvalidToken(exc.__class__.__name__) from exc

    def jwks(self) -> dict[str, Any]:
        public = self._key.as_dict(private=False)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": ALGORITHM}]}


class RefreshTokens:
    def __init__(self, server_key: str) -> None:
        self._key = server_key.encode()

    @staticmethod
    def new_salt() -> bytes:
        return secrets.token_bytes(32)

    def derive(self, salt: bytes) -> str:
        digest = hmac.new(self._key, salt, hashlib.sha256).digest()
        return REFRESH_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    @staticmethod
    def lookup_hash(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()
