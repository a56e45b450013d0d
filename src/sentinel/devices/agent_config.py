"""The settings an organization chose for its agents, with deployment defaults."""

from __future__ import annotations

from typing import Any

import asyncpg

from sentinel.config import Settings
from sentinel.privacy.settings import load as load_privacy

AGENT_SETTINGS_KEY = "agent"


async def agent_config(conn: asyncpg.Connection, settings: Settings) -> dict[str, Any]:
    """Runs inside the device's tenant transaction."""
    chosen = await conn.fetchval("SELECT value FROM settings WHERE key = $1", AGENT_SETTINGS_KEY)
    config: dict[str, Any] = {
        "telemetry_interval_s": settings.telemetry_interval_seconds,
        "inventory_interval_h": 24,
        "allow_reboot": False,
        "allow_shutdown": False,
    }
    if isinstance(chosen, dict):
        config.update({k: v for k, v in chosen.items() if k in config})
    # The owner's privacy settings bound what admins chose and decide what is collected.
    privacy = await load_privacy(conn)
    config["telemetry_interval_s"] = min(
        max(int(config["telemetry_interval_s"]), privacy.telemetry_interval_min_s),
        privacy.telemetry_interval_max_s,
    )
    config["collect_user_names"] = privacy.collect_user_names
    config["collect_ip_addresses"] = privacy.collect_ip_addresses
    return config


ADMIN_KEYS = frozenset(
    {"telemetry_interval_s", "inventory_interval_h", "allow_reboot", "allow_shutdown"}
)


async def store_agent_settings(conn: asyncpg.Connection, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge `changes` into the organization's agent settings; returns the previous values."""
    chosen = await conn.fetchval("SELECT value FROM settings WHERE key = $1", AGENT_SETTINGS_KEY)
    before = dict(chosen) if isinstance(chosen, dict) else {}
    await conn.execute(
        """INSERT INTO settings (key, value) VALUES ($1, $2)
           ON CONFLICT (key) DO UPDATE SET value = settings.value || EXCLUDED.value""",
        AGENT_SETTINGS_KEY,
        changes,
    )
    return before
