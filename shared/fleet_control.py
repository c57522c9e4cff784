"""Operators' control of worker hosts, through Redis: ``run`` (the default), ``drain`` (finish
the current sends, take no new ones, stay up) and ``stop`` (drain, then exit).

A hash, not a pub/sub message: a supervisor that was restarting, or whose Redis connection
blinked, still finds the operator's wish on its next look (every couple of seconds). Redis
away means ``run``: an outage must not stop the fleet.
"""

from __future__ import annotations

import logging
from typing import Literal, cast

from shared.redis_conn import get_redis

log = logging.getLogger(__name__)

KEY = "mikomi:control:hosts"
HostState = Literal["run", "drain", "stop"]
HOST_STATES: tuple[HostState, ...] = ("run", "drain", "stop")
# What an operator asks (the API's and the page's words) → the state a host is put in.
ACTIONS: dict[str, HostState] = {"drain": "drain", "stop": "stop", "resume": "run"}


def set_host(host: str, state: HostState) -> None:
    if state not in HOST_STATES:
        raise ValueError(f"unknown host state {state!r}")
    if state == "run":
        get_redis().hdel(KEY, host)
    else:
        get_redis().hset(KEY, host, state)


def host_state(host: str) -> HostState:
    try:
        value = get_redis().hget(KEY, host)
    except Exception as exc:
        log.warning("fleet control unreadable (%s): running as usual", exc)
        return "run"
    state = value.decode() if value else "run"
    for known in HOST_STATES:
        if state == known:
            return known
    return "run"


def hosts() -> dict[str, HostState]:
    """Every host an operator asked something of (the others run)."""
    try:
        raw = get_redis().hgetall(KEY)
    except Exception as exc:
        log.warning("fleet control unreadable: %s", exc)
        return {}
    return {k.decode(): cast(HostState, v.decode()) for k, v in raw.items()}
