"""Process-wide resources of the API: pools, tenant router, Redis, token services."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from sentinel.auth.service import AuthService
from sentinel.auth.tokens import AccessTokens, RefreshTokens
from sentinel.auth.verifier import TokenVerifier, make_verifier
from sentinel.broker.probe import BrokerEndpoint
from sentinel.config import Settings
from sentinel.db.pools import ShardPools
from sentinel.db.tenancy import TenantRouter
from sentinel.live.hub import LiveHub
from sentinel.ratelimit.limiter import RateLimiter
from sentinel.stack.mosquitto import SERVICE_USERNAME
from sentinel.stack.secrets import load_secrets


@dataclass
class Resources:
    settings: Settings
    app_pools: ShardPools
    owner_pools: ShardPools
    router: TenantRouter
    pool: asyncpg.Pool
    redis: redis.Redis
    broker: BrokerEndpoint
    access_tokens: AccessTokens
    auth: AuthService
    verifier: TokenVerifier
    limiter: RateLimiter
    live: LiveHub

    @classmethod
    async def open(cls, settings: Settings) -> Resources:
        secrets = load_secrets(settings.secrets_dir)
        app_pools = ShardPools(settings, "app")
        # The owner role is used only to create and drop tenant schemas and roles.
        owner_pools = ShardPools(settings, "owner", max_size=2)
        control = await app_pools.control()
        # No retry storm when Redis is down: callers decide (fail open or closed) at once.
        client = redis.Redis(
            host="127.0.0.1",
            port=settings.redis_port,
            password=secrets.redis_password,
            socket_timeout=2,
            socket_connect_timeout=2,
            retry=Retry(NoBackoff(), 0),
        )
        broker = BrokerEndpoint(
            "127.0.0.1",
            settings.mqtt_internal_port,
            SERVICE_USERNAME,
            secrets.mqtt_service_password,
        )
        access = AccessTokens(
            secrets.jwt_signing_key_pem,
            settings.jwt_issuer,
            settings.jwt_audience,
            settings.access_token_ttl_seconds,
        )
        auth = AuthService(
            control,
            client,
            access,
            RefreshTokens(secrets.refresh_token_key),
            settings.refresh_reuse_grace_seconds,
        )
        return cls(
            settings=settings,
            app_pools=app_pools,
            owner_pools=owner_pools,
            router=TenantRouter(app_pools),
            pool=control,
            redis=client,
            broker=broker,
            access_tokens=access,
            auth=auth,
            verifier=make_verifier(settings, access, control),
            limiter=RateLimiter(settings, secrets.redis_password),
            live=LiveHub(client),
        )

    async def close(self) -> None:
        await self.live.close()
        await self.limiter.close()
        await self.app_pools.close()
        await self.owner_pools.close()
        await self.redis.aclose()
