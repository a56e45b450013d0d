"""Password hashing (Argon2id) and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from sentinel.api.problems import Problem

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
MIN_LENGTH = 10
MAX_LENGTH = 256
_COMMON = frozenset(
    {
        "password123",
        "1234567890",
        "qwertyuiop",
        "letmein123",
        "password1234",
        "iloveyou12",
        "administrator",
        "welcome123",
        "changeme123",
        "sentinel123",
    }
)
# Hashing a dummy keeps a login for an unknown email as slow as one for a known email.
_DUMMY_HASH = _hasher.hash("no-such-user-dummy-password")


class WeakPassword(Problem):
    status = 422
    code = "weak_password"
    title = "Password does not meet the policy"


def check_policy(password: str, email: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Use at most {MAX_LENGTH} characters.")
    if password.lower() in _COMMON or password.lower() == email.lower():
        raise WeakPassword("This password is too easy to guess.")
    if len(set(password)) < 4:
        raise WeakPassword("Use more different characters.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant-work check; an unknown user (no hash) still costs one Argon2 verification."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
