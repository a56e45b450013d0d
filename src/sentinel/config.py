"""The one settings object.

Every tunable of Sentinel is read here, from `SENTINEL_*` environment variables (or a `.env`
file); nothing else in the code reads the environment. Secrets are not settings: they are
generated into files under the data directory (see `sentinel.stack.secrets`).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Deployment settings; ports default to values that avoid the standard system ports."""

    model_config = SettingsConfigDict(
        env_prefix="SENTINEL_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Path("var")
    mode: Literal["local", "production"] = "local"
    public_host: str = "localhost"

    https_port: int = Field(8443, ge=1, le=65535)
    http_port: int = Field(8080, ge=1, le=65535)
    api_port: int = Field(8000, ge=1, le=65535)
    mqtts_port: int = Field(8883, ge=1, le=65535)
    mqtt_internal_port: int = Field(18830, ge=1, le=65535)
    pg_port: int = Field(15432, ge=1, le=65535)
    redis_port: int = Field(16379, ge=1, le=65535)

    pg_database: str = "sentinel"
    redis_maxmemory: str = "256mb"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = False
    worker_heartbeat_seconds: float = Field(5.0, gt=0)

    @cached_property
    def root(self) -> Path:
        """Absolute data directory; every file Sentinel writes lives below it."""
        return self.data_dir.resolve()

    @property
    def secrets_dir(self) -> Path:
        return self.root / "secrets"

    @property
    def tls_dir(self) -> Path:
        return self.root / "tls"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def ca_cert_path(self) -> Path:
        return self.tls_dir / "ca.crt"

    @property
    def broker_dir(self) -> Path:
        return self.root / "mosquitto"

    @property
    def public_url(self) -> str:
        return f"https://{self.public_host}:{self.https_port}"
