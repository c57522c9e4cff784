"""Login rate limiting: growing delays after repeated failed logins, per client.

Failures are counted per (e-mail, client IP) pair and per client IP, never per e-mail alone: a
count per address would let anyone lock the operator out by guessing wrong on purpose. Past a
key's free failures each further try must wait ``BASE_DELAY × 2^(n − free)`` after the latest
failure (30 s, 1 min, 2 min, … up to the window), so a person who mistyped waits seconds and a
guesser is slowed to a few tries an hour, and no one is blocked for good.

Failures are kept in Redis when ``MIKOMI_REDIS_URL`` is set and answers, so every coordinator
process sees the same counts; otherwise in this process's memory (one process per machine is
the default deployment, and a restart forgetting the counts is acceptable). Times come from
:mod:`shared.clock`, so tests move the window by moving the clock.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections import defaultdict, deque
from datetime import timedelta
from typing import Protocol

from fastapi import Request

from coordinator.errors import AppError
from shared import clock
from shared.config import get_settings

log = logging.getLogger(__name__)

LOGIN_MAX_FAILURES = 10  # free failures of one address from one client, per window
LOGIN_MAX_FAILURES_PER_IP = 30  # free failures of one client (an office behind one NAT)
LOGIN_WINDOW = timedelta(minutes=15)
BASE_DELAY = timedelta(seconds=30)


class TooManyAttempts(AppError):
    status_code = 429

    def __init__(self, retry_after_s: int) -> None:
        minutes = max(1, (retry_after_s + 59) // 60)
        super().__init__(
            "too_many_attempts",
            f"ログインの失敗が続いたため、一時的にログインを制限しています。約{minutes}分後にもう一度お試しください",
            details={"retry_after_s": retry_after_s},
        )


class FailureStore(Protocol):
    def failures_since(self, key: str, since: float) -> list[float]: ...
    def add_failure(self, key: str, at: float, keep_s: float) -> None: ...
    def clear(self, key: str) -> None: ...


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, deque[float]] = defaultdict(deque)

    def failures_since(self, key: str, since: float) -> list[float]:
        with self._lock:
            events = self._events.get(key)
            if not events:
                return []
            while events and events[0] < since:
                events.popleft()
            return list(events)

    def add_failure(self, key: str, at: float, keep_s: float) -> None:
        with self._lock:
            self._events[key].append(at)

    def clear(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)


class RedisStore:
    """A sorted set per key (score = failure time), trimmed to the window on every read."""

    def __init__(self, redis: object, namespace: str = "mikomi:login") -> None:
        self._redis = redis
        self._ns = namespace

    def _key(self, key: str) -> str:
        return f"{self._ns}:{key}"

    def failures_since(self, key: str, since: float) -> list[float]:
        r = self._redis
        k = self._key(key)
        r.zremrangebyscore(k, "-inf", f"({since}")  # type: ignore[attr-defined]
        return [float(score) for _m, score in r.zrange(k, 0, -1, withscores=True)]  # type: ignore[attr-defined]

    def add_failure(self, key: str, at: float, keep_s: float) -> None:
        k = self._key(key)
        pipe = self._redis.pipeline()  # type: ignore[attr-defined]
        pipe.zadd(k, {uuid.uuid4().hex: at})
        pipe.expire(k, int(keep_s) + 1)
        pipe.execute()

    def clear(self, key: str) -> None:
        self._redis.delete(self._key(key))  # type: ignore[attr-defined]


def _digest(value: str) -> str:
    # E-mail addresses and IPs are not kept in Redis in the clear.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class LoginLimiter:
    def __init__(
        self,
        store: FailureStore,
        *,
        max_failures: int = LOGIN_MAX_FAILURES,
        max_failures_per_ip: int = LOGIN_MAX_FAILURES_PER_IP,
        window: timedelta = LOGIN_WINDOW,
        base_delay: timedelta = BASE_DELAY,
    ) -> None:
        self.store = store
        self.max_failures = max_failures
        self.max_failures_per_ip = max_failures_per_ip
        self.window = window
        self.base_delay = base_delay

    @staticmethod
    def keys(email: str, client_ip: str | None) -> list[str]:
        """The pair key first (a success clears it), then the client's own key. Without a
        client address (not over HTTP) the e-mail alone is the key."""
        address = email.strip().lower()
        if not client_ip:
            return [f"email:{_digest(address)}"]
        return [f"pair:{_digest(address + chr(0) + client_ip)}", f"ip:{_digest(client_ip)}"]

    def _free_failures(self, key: str) -> int:
        return self.max_failures_per_ip if key.startswith("ip:") else self.max_failures

    def delay_after(self, failures: int, free: int) -> float:
        """Seconds to wait after the latest of ``failures`` failures (0 while within ``free``)."""
        if failures < free:
            return 0.0
        growth = self.base_delay.total_seconds() * 2 ** min(failures - free, 32)
        return min(self.window.total_seconds(), growth)

    def check(self, keys: list[str]) -> None:
        """Raise :class:`TooManyAttempts` while any key is still within its delay."""
        now = clock.now().timestamp()
        since = now - self.window.total_seconds()
        for key in keys:
            try:
                events = self.store.failures_since(key, since)
            except Exception as exc:  # a broken store must not lock everybody out
                log.warning("login rate limit store failed: %s", exc)
                return
            wait = self.delay_after(len(events), self._free_failures(key))
            if wait and max(events) + wait > now:
                raise TooManyAttempts(int(max(events) + wait - now) + 1)

    def record_failure(self, keys: list[str]) -> None:
        now = clock.now().timestamp()
        try:
            for key in keys:
                self.store.add_failure(key, now, self.window.total_seconds())
        except Exception as exc:
            log.warning("login rate limit store failed: %s", exc)

    def clear(self, key: str) -> None:
        try:
            self.store.clear(key)
        except Exception as exc:
            log.warning("login rate limit store failed: %s", exc)


def make_limiter() -> LoginLimiter:
    """Redis-backed when ``MIKOMI_REDIS_URL`` is set and answers, in memory otherwise."""
    settings = get_settings()
    if settings.redis_url:
        try:
            from redis import Redis

            redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
            redis.ping()
            return LoginLimiter(RedisStore(redis))
        except Exception as exc:  # Redis is disposable; fall back rather than refuse logins
            log.warning("login rate limit kept in memory, Redis unreachable: %s", exc)
    return LoginLimiter(MemoryStore())


def get_login_limiter(request: Request) -> LoginLimiter:
    """FastAPI dependency: one limiter per application (so per process in production, and
    per test app in the tests, which therefore never see each other's failures)."""
    limiter = getattr(request.app.state, "login_limiter", None)
    if limiter is None:
        limiter = make_limiter()
        request.app.state.login_limiter = limiter
    return limiter
