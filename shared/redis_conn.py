"""The Redis connection (RQ queues and pub/sub). Redis is disposable: the database is the ledger."""

from __future__ import annotations

import socket
from functools import lru_cache
from typing import Any

from redis import Redis

from shared.config import get_settings


@lru_cache(maxsize=4)
def _redis_for(url: str) -> Redis[bytes]:
    return Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30, **link_limits())


def link_limits() -> dict[str, Any]:
    """TCP keepalive and user timeout that end a connection whose link has gone silent for
    ``link_timeout_s`` (shared/db.py does the same for the database). Without them a blocking
    read (RQ's dequeue, a pub/sub listener) would wait for ever on a link cut by a network
    failure or a firewall that forgot the connection."""
    seconds = get_settings().link_timeout_s
    if seconds <= 0:
        return {}
    wanted = {
        "TCP_KEEPIDLE": max(1, round(seconds / 2)),
        "TCP_KEEPINTVL": max(1, round(seconds / 6)),
        "TCP_KEEPCNT": 3,
        "TCP_USER_TIMEOUT": round(seconds * 1000),
    }
    # Linux has all four; a system without one (macOS has no TCP_KEEPIDLE) goes without it.
    options = {
        getattr(socket, name): value for name, value in wanted.items() if hasattr(socket, name)
    }
    return {"socket_keepalive": True, "socket_keepalive_options": options}


def get_redis() -> Redis[bytes]:
    return _redis_for(get_settings().effective_redis_url)
