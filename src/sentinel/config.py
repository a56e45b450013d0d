"""The one settings object.

Every tunable of Sentinel is read here, from `SENTINEL_*` environment variables (or a `.env`
file); nothing else in the code reads the environment. Secrets are not settings: they are
generated into files under the data directory (see `sentinel.stack.secrets`).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
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

    # Identity. Local mode issues ES256 access tokens; "supabase" trusts an external project.
    auth_provider: Literal["local", "supabase"] = "local"
    jwt_audience: str = "authenticated"
    access_token_ttl_seconds: int = Field(900, ge=30, le=86_400)
    refresh_reuse_grace_seconds: float = Field(10.0, ge=0, le=300)
    supabase_url: str | None = None
    supabase_jwks_url: str | None = None
    supabase_jwt_secret: SecretStr | None = None
    supabase_audience: str = "authenticated"
    invitation_ttl_hours: int = Field(72, ge=1, le=24 * 30)

    # Rate limits (`limits` notation), shared by every API process through Redis.
    rate_limit_global: str = "100/minute"
    rate_limit_org_create: str = "5/minute"
    rate_limit_login_address: str = "20/minute"
    rate_limit_login_account: str = "10/15minutes"
    rate_limit_signup: str = "10/minute"
    rate_limit_enrollment: str = "10/minute"
    rate_limit_billing: str = "10/minute"
    telemetry_interval_seconds: int = Field(60, ge=1, le=3600)
    ingest_batch_max: int = Field(1000, ge=1, le=50_000)
    ingest_batch_seconds: float = Field(0.1, gt=0, le=10)
    ingest_max_payload_bytes: int = Field(64 * 1024, ge=1024, le=1024 * 1024)
    ingest_processes: int = Field(1, ge=1, le=16)
    api_processes: int = Field(1, ge=1, le=16)
    # Tenant shards beyond the main cluster (which also holds the control schema): name → port
    # of a PostgreSQL cluster the local stack runs too. New organizations go to `main` or to
    # the shard holding the fewest organizations.
    extra_shards: dict[str, int] = Field(default_factory=dict)
    org_placement: Literal["main", "least_loaded"] = "main"
    device_cache_seconds: float = Field(5.0, ge=0, le=300)
    # Alerts and notifications. E-mail is off until an SMTP host is set.
    alert_eval_seconds: float = Field(15.0, gt=0, le=3600)
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "sentinel@localhost"
    smtp_starttls: bool = True
    webhook_timeout_seconds: float = Field(5.0, gt=0, le=60)
    notification_max_attempts: int = Field(5, ge=1, le=20)
    tenant_migration_parallelism: int = Field(4, ge=1, le=64)

    # --- billing (sentinel.billing) --------------------------------------------------------
    # "manual" bills by invoice (an operator sets plan, seats and period); "stripe" sells plans
    # through Stripe Checkout. Plans come from the TOML file shipped in sentinel/billing unless
    # `billing_plans_file` names another. Below-usage states keep working for the grace period.
    billing_provider: Literal["manual", "stripe"] = "manual"
    billing_plans_file: Path | None = None
    billing_grace_days: int = Field(14, ge=0, le=365)
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_webhook_tolerance_seconds: int = Field(300, ge=10, le=3600)
    stripe_api_base: str = "https://api.stripe.com"
    stripe_timeout_seconds: float = Field(20.0, gt=0, le=120)
    # --- end billing -----------------------------------------------------------------------

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
        if self.mode == "production" and self.https_port == 443:
            return f"https://{self.public_host}"
        return f"https://{self.public_host}:{self.https_port}"

    @property
    def jwt_issuer(self) -> str:
        return f"{self.public_url}/auth/v1"

    @property
    def supabase_issuer(self) -> str | None:
        return f"{self.supabase_url.rstrip('/')}/auth/v1" if self.supabase_url else None
