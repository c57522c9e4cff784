"""The Redis connection (RQ queues and pub/sub). Redis is disposable: the database is the ledger."""

from __future__ import annotations

from functools import lru_cache

from redis import Redis

from shared.config import get_settings


@lru_cache(maxsize=4)
def _redis_for(url: str) -> Redis[bytes]:
    return Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)


def get_redis() -> Redis[bytes]:
    return _redis_for(get_settings().effective_redis_url)
