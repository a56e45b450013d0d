"""Process-wide resources of the API: database pool, Redis client, broker endpoint."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import redis.asyncio as redis

from sentinel.broker.probe import BrokerEndpoint
from sentinel.config import Settings
from sentinel.db.connect import create_pool, pg_target
from sentinel.stack.mosquitto import SERVICE_USERNAME
from sentinel.stack.secrets import load_secrets


@dataclass
class Resources:
    settings: Settings
    pool: asyncpg.Pool
    redis: redis.Redis
    broker: BrokerEndpoint

    @classmethod
    async def open(cls, settings: Settings) -> Resources:
        secrets = load_secrets(settings.secrets_dir)
        pool = await create_pool(pg_target(settings, "app"))
        client = redis.Redis(
            host="127.0.0.1",
            port=settings.redis_port,
            password=secrets.redis_password,
            socket_timeout=3,
        )
        broker = BrokerEndpoint(
            "127.0.0.1",
            settings.mqtt_internal_port,
            SERVICE_USERNAME,
            secrets.mqtt_service_password,
        )
        return cls(settings, pool, client, broker)

    async def close(self) -> None:
        await self.pool.close()
        await self.redis.aclose()
