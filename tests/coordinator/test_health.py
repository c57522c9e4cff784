"""/healthz tells anyone ok or failed, and only the log says why (no hosts, users or passwords)."""

from __future__ import annotations

import logging

import pytest

from coordinator import health
from shared.config import get_settings
from shared.db import make_engine
from shared.redis_conn import _redis_for


def test_healthz_ok(client) -> None:  # type: ignore[no-untyped-def]
    resp = client.get("/healthz")
    assert resp.status_code in (200, 503)
    assert set(resp.json()) == {"database", "redis", "status"}


def test_failures_say_failed_and_nothing_else(
    client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    bad_db = make_engine("postgresql+psycopg://db-user-x:db-pass-x@127.0.0.1:1/secret_db_x")
    monkeypatch.setattr(health, "get_engine", lambda: bad_db)
    monkeypatch.setenv("MIKOMI_REDIS_URL", "redis://redis-user-x:redis-pass-x@127.0.0.1:1/0")
    get_settings.cache_clear()
    _redis_for.cache_clear()
    try:
        with caplog.at_level(logging.ERROR, logger="coordinator.health"):
            resp = client.get("/healthz")
    finally:
        get_settings.cache_clear()
        _redis_for.cache_clear()
        bad_db.dispose()
    assert resp.status_code == 503
    assert resp.json() == {"database": "failed", "redis": "failed", "status": "degraded"}
    for secret in ("db-user-x", "db-pass-x", "secret_db_x", "redis-pass-x", "127.0.0.1"):
        assert secret not in resp.text
    logged = "\n".join(r.getMessage() + str(r.exc_info) for r in caplog.records)
    assert "health check database failed" in logged and "health check redis failed" in logged
