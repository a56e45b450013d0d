"""Sentinel's own Redis: loopback only, password required, memory capped."""

from __future__ import annotations

from pathlib import Path

import redis as redis_lib

from sentinel.stack.binaries import find_binary
from sentinel.stack.component import Component, Listen
from sentinel.stack.files import write_atomic
from sentinel.stack.secrets import load_secrets

# Only keys with a TTL (caches, rate-limit windows) may be evicted under memory pressure; keys
# without one make writes fail loudly instead of silently disappearing.
EVICTION_POLICY = "volatile-lru"


class Redis(Component):
    name = "redis"

    @property
    def home(self) -> Path:
        return self.settings.root / "redis"

    @property
    def listens(self) -> list[Listen]:
        return [Listen("127.0.0.1", self.settings.redis_port)]

    def prepare(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        password = load_secrets(self.settings.secrets_dir).redis_password
        write_atomic(
            self.home / "redis.conf",
            f"""bind 127.0.0.1
port {self.settings.redis_port}
protected-mode yes
requirepass {password}
maxmemory {self.settings.redis_maxmemory}
maxmemory-policy {EVICTION_POLICY}
dir {self.home}
save ""
appendonly no
daemonize no
logfile ""
""",
            mode=0o600,
        )

    def command(self) -> list[str]:
        return [find_binary("redis-server"), str(self.home / "redis.conf")]

    def client(self) -> redis_lib.Redis:
        return redis_lib.Redis(
            host="127.0.0.1",
            port=self.settings.redis_port,
            password=load_secrets(self.settings.secrets_dir).redis_password,
            socket_timeout=2,
        )

    def probe(self) -> None:
        with self.client() as client:
            client.ping()
