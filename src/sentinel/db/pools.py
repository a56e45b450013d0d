"""One connection pool per PostgreSQL shard and login role, created on first use."""

from __future__ import annotations

import asyncio

import asyncpg

from sentinel.config import Settings
from sentinel.db.connect import MAIN_SHARD, Role, create_pool, pg_target

DEFAULT_SHARD = MAIN_SHARD


class UnknownShardError(LookupError):
    pass


class ShardPools:
    """Pools for one login role across shards. The control schema lives on the default shard."""

    def __init__(self, settings: Settings, role: Role, max_size: int = 10) -> None:
        self.settings = settings
        self.role = role
        self.max_size = max_size
        self._pools: dict[str, asyncpg.Pool] = {}
        self._lock = asyncio.Lock()

    def shards(self) -> list[str]:
        return [DEFAULT_SHARD, *self.settings.extra_shards]

    async def get(self, shard: str = DEFAULT_SHARD) -> asyncpg.Pool:
        if shard not in self.shards():
            raise UnknownShardError(shard)
        pool = self._pools.get(shard)
        if pool is not None:
            return pool
        async with self._lock:
            if shard not in self._pools:
                target = pg_target(self.settings, self.role, shard=shard)
                self._pools[shard] = await create_pool(target, max_size=self.max_size)
            return self._pools[shard]

    async def control(self) -> asyncpg.Pool:
        return await self.get(DEFAULT_SHARD)

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()
