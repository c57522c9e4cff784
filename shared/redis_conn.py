"""The Redis connection (RQ queues and pub/sub). Redis is disposable: the database is the ledger."""

from __future__ import annotations

import socket
from functools import lru_cache
from typing import Any

from redis import Redis

from shared.config import get_settings, link_probes


@lru_cache(maxsize=4)
def _redis_for(url: str) -> Redis[bytes]:
    return Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30, **link_limits())


def link_limits() -> dict[str, Any]:
    """TCP keepalive and user timeout that end a connection whose link has gone silent for
    ``link_timeout_s`` (shared/db.py does the same for the database). Without them a blocking
    read (RQ's dequeue, a pub/sub listener) would wait for ever on a link cut by a network
    failure or a firewall that forgot the connection."""
    probes = link_probes()
    if probes is None:
        return {}
    wanted = {
        "TCP_KEEPIDLE": probes.idle_s,
        "TCP_KEEPINTVL": probes.interval_s,
        "TCP_KEEPCNT": probes.probes,
        "TCP_USER_TIMEOUT": probes.user_timeout_ms,
    }
    # Linux has all four; a system without one (macOS has no TCP_KEEPIDLE) goes without it.
    options = {
        getattr(socket, name): value for name, value in wanted.items() if hasattr(socket, name)
    }
    return {"socket_keepalive": True, "socket_keepalive_options": options}


def get_redis() -> Redis[bytes]:
    return _redis_for(get_settings().effective_redis_url)
