"""Named rate limits over `limits`' async Redis storage (moving window).

Keys that are client addresses (bare, or as `ip:<address>`) are counted per network for IPv6:
one customer routinely holds a whole /64, so counting per address would let a single client
rotate addresses forever. IPv4-mapped IPv6 addresses count as the IPv4 address.

When Redis is unreachable, limits that guard authentication and costly creation (login,
sign-up, organization creation, enrollment, billing) fail closed with 503; the global
per-client limit fails open, so an outage of the cache does not take the whole API down.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool

from sentinel.api.problems import Problem
from sentinel.config import Settings
from sentinel.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float

    def headers(self) -> dict[str, str]:
        reset = max(0, int(self.reset_at - time.time()) + 1)
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(reset)
        return headers


class TooManyRequests(Problem):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, decision: Decision) -> None:
        super().__init__("Slow down and retry after the time in Retry-After.")
        self.headers = decision.headers()


class LimiterUnavailable(Problem):
    status = 503
    code = "rate_limiter_unavailable"
    title = "Temporarily unavailable"


# Which limits must hold even when Redis is down (they then refuse instead of allowing).
FAIL_CLOSED = frozenset(
    {"login_address", "login_account", "signup", "org_create", "enrollment", "billing"}
)


IPV6_CLIENT_PREFIX = 64
ADDRESS_LABEL = "ip:"


def client_network(key: str) -> str:
    """`key` with an IPv6 address replaced by its /64 (and an IPv4-mapped one by the IPv4)."""
    label = ADDRESS_LABEL if key.startswith(ADDRESS_LABEL) else ""
    try:
        address = ipaddress.ip_address(key.removeprefix(label))
    except ValueError:
        return key  # not an address: an e-mail, a user, a device, a token hash
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"{label}{address.ipv4_mapped}"
        network = ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False)
        return f"{label}{network}"
    return key


class RateLimiter:
    def __init__(self, settings: Settings, redis_password: str) -> None:
        # The limiter owns its connection pool so that `close` can release the connections;
        # the storage itself offers no way to, and would leave them to garbage collection.
        self.pool = ConnectionPool(
            host="127.0.0.1",
            port=settings.redis_port,
            password=redis_password,
            socket_timeout=2,
            socket_connect_timeout=2,
        )
        self.storage = RedisStorage(
            f"async+redis://127.0.0.1:{settings.redis_port}/0",
            implementation="redispy",
            key_prefix="sentinel:rl",
            wrap_exceptions=True,
            connection_pool=self.pool,  # type: ignore[arg-type]  # passed on to redis-py
        )
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.items: dict[str, RateLimitItem] = {
            "global": parse(settings.rate_limit_global),
            "org_create": parse(settings.rate_limit_org_create),
            "login_address": parse(settings.rate_limit_login_address),
            "login_account": parse(settings.rate_limit_login_account),
            "signup": parse(settings.rate_limit_signup),
            "enrollment": parse(settings.rate_limit_enrollment),
            "billing": parse(settings.rate_limit_billing),
        }

    async def hit(self, name: str, key: str) -> Decision:
        """Count one request of `key` against limit `name`."""
        item = self.items[name]
        key = client_network(key)
        try:
            allowed = await self.strategy.hit(item, name, key)
            stats = await self.strategy.get_window_stats(item, name, key)
        except Exception as exc:
            log.warning("rate limiter unavailable", limit=name, error=exc.__class__.__name__)
            if name in FAIL_CLOSED:
                raise LimiterUnavailable("Please retry shortly.") from None
            return Decision(True, item.amount, item.amount, time.time() + item.get_expiry())
        return Decision(allowed, item.amount, stats.remaining, stats.reset_time)

    async def enforce(self, name: str, key: str) -> Decision:
        decision = await self.hit(name, key)
        if not decision.allowed:
            raise TooManyRequests(decision)
        return decision

    async def close(self) -> None:
        """Close the connections to Redis (the API calls this when it shuts down)."""
        await self.pool.disconnect()
