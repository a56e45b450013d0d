"""Per-organization privacy settings (owner only). Agents receive the effective values in
their configuration and obey them; ingest drops disabled fields even if an agent sends them."""

from __future__ import annotations

from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, model_validator

SETTINGS_KEY = "privacy"
MAX_RETENTION_DAYS = 730


class PrivacySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    collect_user_names: bool = False
    collect_ip_addresses: bool = False
    telemetry_interval_min_s: int = Field(1, ge=1, le=3600)
    telemetry_interval_max_s: int = Field(3600, ge=1, le=86_400)
    telemetry_retention_days: int = Field(90, ge=1, le=MAX_RETENTION_DAYS)
    audit_retention_days: int = Field(365, ge=30, le=MAX_RETENTION_DAYS * 3)

    @model_validator(mode="after")
    def _bounds(self) -> PrivacySettings:
        if self.telemetry_interval_min_s > self.telemetry_interval_max_s:
            raise ValueError("telemetry_interval_min_s must not exceed telemetry_interval_max_s")
        return self


async def load(conn: asyncpg.Connection) -> PrivacySettings:
    """Inside a tenant transaction."""
    value = await conn.fetchval("SELECT value FROM settings WHERE key = $1", SETTINGS_KEY)
    return PrivacySettings.model_validate(value) if isinstance(value, dict) else PrivacySettings()


async def store(conn: asyncpg.Connection, settings: PrivacySettings) -> dict[str, Any]:
    before = await conn.fetchval("SELECT value FROM settings WHERE key = $1", SETTINGS_KEY)
    await conn.execute(
        """INSERT INTO settings (key, value) VALUES ($1, $2)
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""",
        SETTINGS_KEY,
        settings.model_dump(),
    )
    return before if isinstance(before, dict) else PrivacySettings().model_dump()
