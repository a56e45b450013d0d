"""Generated secrets: created once per data directory, each in its own 0600 file.

Secrets never appear in settings, argv or logs; processes read them from these files.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sentinel.logging import register_secrets
from sentinel.stack.files import write_atomic

SECRET_NAMES = (
    "pg_superuser_password",
    "pg_owner_password",
    "pg_app_password",
    "redis_password",
    "mqtt_service_password",
    "refresh_token_key",
)
JWT_KEY_NAME = "jwt_signing_key.pem"


@dataclass(frozen=True)
class Secrets:
    pg_superuser_password: str
    pg_owner_password: str
    pg_app_password: str
    redis_password: str
    mqtt_service_password: str
    refresh_token_key: str
    jwt_signing_key_pem: str

    def values(self) -> list[str]:
        return [
            self.pg_superuser_password,
            self.pg_owner_password,
            self.pg_app_password,
            self.redis_password,
            self.mqtt_service_password,
            self.refresh_token_key,
            self.jwt_signing_key_pem,
        ]


def _new_jwt_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def ensure_secrets(directory: Path) -> Secrets:
    """Create any missing secret file (mode 0600) and return all secrets."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    values: dict[str, str] = {}
    for name in SECRET_NAMES:
        path = directory / name
        if not path.exists():
            write_atomic(path, secrets.token_urlsafe(32))
        values[name] = path.read_text().strip()
    key_path = directory / JWT_KEY_NAME
    if not key_path.exists():
        write_atomic(key_path, _new_jwt_key())
    loaded = Secrets(**values, jwt_signing_key_pem=key_path.read_text())
    register_secrets(loaded.values())
    return loaded


def load_secrets(directory: Path) -> Secrets:
    """Read existing secrets (processes other than the launcher never create them)."""
    values = {name: (directory / name).read_text().strip() for name in SECRET_NAMES}
    loaded = Secrets(**values, jwt_signing_key_pem=(directory / JWT_KEY_NAME).read_text())
    register_secrets(loaded.values())
    return loaded
