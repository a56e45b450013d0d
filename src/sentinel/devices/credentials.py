"""Device and enrollment tokens: 256-bit random, shown once, stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from uuid import UUID

from sentinel.broker.passwords import mosquitto_hash

DEVICE_TOKEN_PREFIX = "sdt_"  # noqa: S105 - a public prefix, not a secret
ENROLLMENT_TOKEN_PREFIX = "set_"  # noqa: S105 - a public prefix, not a secret


def sha256(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def broker_username(org_id: UUID, device_id: UUID) -> str:
    """`{org_id}/devices/{device_id}`: the ACL pattern `sentinel/%u/#` scopes it."""
    return f"{org_id}/devices/{device_id}"


@dataclass(frozen=True)
class IssuedDeviceToken:
    token: str
    sha256: bytes
    broker_hash: str


def issue_device_token() -> IssuedDeviceToken:
    token = DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return IssuedDeviceToken(token, sha256(token), mosquitto_hash(token))


def issue_enrollment_token() -> tuple[str, bytes]:
    token = ENROLLMENT_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, sha256(token)
