"""Accounts: login rate limit, browser sessions (cookie + CSRF), logout and token revocation,
and the ``mikomi users create`` command."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis import Redis

from coordinator.accounts.ratelimit import (
    LOGIN_MAX_FAILURES,
    LOGIN_MAX_FAILURES_PER_IP,
    LoginLimiter,
    MemoryStore,
    RedisStore,
    TooManyAttempts,
    get_login_limiter,
)
from coordinator.dependencies import SESSION_COOKIE
from shared import clock, migrate
from shared.config import PROJECT_ROOT
from tests.builders import order_body

PASSWORD = "correct-horse-battery"


@pytest.fixture
def limiter(app) -> LoginLimiter:  # type: ignore[no-untyped-def]
    """A limiter of this test's own, so counts never leak between tests."""
    own = LoginLimiter(MemoryStore())
    app.dependency_overrides[get_login_limiter] = lambda: own
    return own


def _login(
    client, email: str, password: str, ip: str | None = None, path: str = "/api/v1/auth/token"
):  # type: ignore[no-untyped-def]
    """Log in as the test client, or from the client address ``ip``."""
    if ip is not None:
        from fastapi.testclient import TestClient

        with TestClient(client.app, client=(ip, 50000)) as elsewhere:
            return _login(elsewhere, email, password, path=path)
    return client.post(path, json={"email": email, "password": password})


def test_ten_failures_delay_that_client_with_growing_waits(client, make_user, limiter) -> None:  # type: ignore[no-untyped-def]
    make_user("member", email="victim@example.test", password=PASSWORD)
    for _ in range(LOGIN_MAX_FAILURES):
        assert _login(client, "victim@example.test", "wrong-password").status_code == 401
    # The 11th try is refused before the password is even checked — even the right one.
    blocked = _login(client, "victim@example.test", PASSWORD)
    assert blocked.status_code == 429
    err = blocked.json()["error"]
    assert err["code"] == "too_many_attempts" and "ログイン" in err["message"]
    assert 0 < err["details"]["retry_after_s"] <= 31
    # The e-mail is matched case-insensitively.
    assert _login(client, "VICTIM@example.test", PASSWORD).status_code == 429
    # Each further failure doubles the wait: 30 s, 60 s, 120 s.
    for wait_s in (30, 60, 120):
        clock.advance(timedelta(seconds=wait_s + 1))
        assert _login(client, "victim@example.test", "wrong-again").status_code == 401
        retry = _login(client, "victim@example.test", PASSWORD).json()["error"]["details"]
        assert 2 * wait_s - 1 <= retry["retry_after_s"] <= 2 * wait_s + 1
    clock.advance(timedelta(seconds=241))
    assert _login(client, "victim@example.test", PASSWORD).status_code == 200


def test_nobody_can_lock_an_address_out_from_elsewhere(client, make_user, limiter) -> None:  # type: ignore[no-untyped-def]
    # Keyed on the e-mail alone, a stranger's wrong guesses locked the operator out for good.
    make_user("operator", email="ops@example.test", password=PASSWORD)
    for n in range(LOGIN_MAX_FAILURES * 3):
        stranger = f"198.51.100.{n % 50 + 1}"
        assert _login(client, "ops@example.test", "guess", ip=stranger).status_code in (401, 429)
    assert _login(client, "ops@example.test", PASSWORD, ip="203.0.113.7").status_code == 200


def test_success_clears_the_pair_count_but_not_the_ip_count(client, make_user, limiter) -> None:  # type: ignore[no-untyped-def]
    make_user("member", email="forgetful@example.test", password=PASSWORD)
    for _ in range(LOGIN_MAX_FAILURES - 1):
        assert _login(client, "forgetful@example.test", "nope-nope").status_code == 401
    assert _login(client, "forgetful@example.test", PASSWORD).status_code == 200
    pair_key, ip_key = limiter.keys("forgetful@example.test", "testclient")
    since = clock.now().timestamp() - 3600
    assert limiter.store.failures_since(pair_key, since) == []
    assert len(limiter.store.failures_since(ip_key, since)) == LOGIN_MAX_FAILURES - 1


def test_failures_are_limited_per_client_ip_across_addresses(client, make_user, limiter) -> None:  # type: ignore[no-untyped-def]
    make_user("member", email="target@example.test", password=PASSWORD)
    # One client guessing many addresses (nonexistent ones count too).
    for n in range(LOGIN_MAX_FAILURES_PER_IP):
        assert _login(client, f"guess{n}@example.test", "password-x").status_code == 401
    assert _login(client, "target@example.test", PASSWORD).status_code == 429
    # Another client is not held up by that one.
    assert _login(client, "target@example.test", PASSWORD, ip="203.0.113.8").status_code == 200


def test_the_browser_login_is_limited_too(client, make_user, limiter) -> None:  # type: ignore[no-untyped-def]
    make_user("member", email="browser@example.test", password=PASSWORD)
    for _ in range(LOGIN_MAX_FAILURES):
        _login(client, "browser@example.test", "wrong-one", path="/api/v1/auth/session")
    resp = _login(client, "browser@example.test", PASSWORD, path="/api/v1/auth/session")
    assert resp.status_code == 429 and SESSION_COOKIE not in resp.cookies


def test_failures_leave_the_window_with_the_clock() -> None:
    clock.set_clock(datetime(2026, 5, 1, 9, 0, tzinfo=UTC))
    lim = LoginLimiter(MemoryStore(), max_failures=3, window=timedelta(minutes=15))
    keys = lim.keys("a@example.test", "192.0.2.1")
    lim.record_failure(keys)
    clock.advance(timedelta(minutes=10))
    lim.record_failure(keys)
    lim.record_failure(keys)
    with pytest.raises(TooManyAttempts) as info:
        lim.check(keys)
    assert info.value.details["retry_after_s"] == 31
    clock.advance(timedelta(seconds=31))
    lim.check(keys)
    lim.record_failure(keys)  # a fourth failure: twice the wait
    with pytest.raises(TooManyAttempts) as info:
        lim.check(keys)
    assert info.value.details["retry_after_s"] == 61
    clock.advance(timedelta(minutes=5, seconds=1))  # the first failure left the window
    lim.check(keys)


def test_redis_store_shares_counts_between_limiters() -> None:
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    namespace = f"mikomi:test-login:{uuid.uuid4().hex}"
    try:
        one = LoginLimiter(RedisStore(redis, namespace), max_failures=2)
        two = LoginLimiter(RedisStore(redis, namespace), max_failures=2)  # "another process"
        keys = one.keys("shared@example.test", None)
        one.record_failure(keys)
        two.record_failure(keys)
        with pytest.raises(TooManyAttempts):
            one.check(keys)
        assert redis.ttl(f"{namespace}:{keys[0]}") > 0  # counts expire on their own
        two.clear(keys[0])
        one.check(keys)
    finally:
        for key in redis.scan_iter(f"{namespace}:*"):
            redis.delete(key)


def test_a_broken_store_does_not_lock_everybody_out() -> None:
    dead = LoginLimiter(
        RedisStore(Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2))
    )
    keys = dead.keys("x@example.test", "192.0.2.9")
    dead.record_failure(keys)
    dead.check(keys)  # no exception: fail open, and logged


# --- browser sessions and CSRF -----------------------------------------------------------------


def _session(client, make_user, limiter):  # type: ignore[no-untyped-def]
    make_user("member", email="cookie@example.test", password=PASSWORD)
    resp = _login(client, "cookie@example.test", PASSWORD, path="/api/v1/auth/session")
    assert resp.status_code == 200
    return resp


def test_session_login_sets_a_safe_cookie(client, make_user, limiter) -> None:  # type: ignore[no-untyped-def]
    resp = _session(client, make_user, limiter)
    header = resp.headers["set-cookie"].lower()
    assert header.startswith(f"{SESSION_COOKIE}=")
    assert "httponly" in header and "samesite=lax" in header and "path=/" in header
    body = resp.json()
    assert body["user"]["email"] == "cookie@example.test" and body["csrf_token"]
    # The cookie alone authenticates reads, and /me returns the CSRF token to send on writes.
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["csrf_token"] == body["csrf_token"]
    # A bearer token is never given a CSRF token (it needs none).
    token = _login(client, "cookie@example.test", PASSWORD).json()["access_token"]
    client.cookies.clear()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["csrf_token"] is None


def test_cookie_writes_need_the_csrf_token(client, make_user, limiter) -> None:  # type: ignore[no-untyped-def]
    csrf = _session(client, make_user, limiter).json()["csrf_token"]
    body = {**order_body(1000)}
    missing = client.post("/api/v1/orders", json=body)
    assert missing.status_code == 403 and missing.json()["error"]["code"] == "csrf_failed"
    wrong = client.post("/api/v1/orders", json=body, headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "csrf_failed"
    assert client.get("/api/v1/orders").json()["orders"] == []  # nothing was written
    ok = client.post("/api/v1/orders", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    # A classic form post carries it as the csrf_token field.
    form = client.post("/api/v1/auth/logout", data={"csrf_token": "forged"})
    assert form.status_code == 403
    form = client.post("/api/v1/auth/logout", data={"csrf_token": csrf})
    assert form.status_code == 204


def test_a_csrf_token_of_another_session_is_refused(client, make_user, limiter) -> None:  # type: ignore[no-untyped-def]
    make_user("member", email="other@example.test", password=PASSWORD)
    other_csrf = _login(client, "other@example.test", PASSWORD, path="/api/v1/auth/session").json()[
        "csrf_token"
    ]
    client.cookies.clear()
    _session(client, make_user, limiter)
    resp = client.post("/api/v1/scripts", json={}, headers={"X-CSRF-Token": other_csrf})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "csrf_failed"


def test_logout_revokes_the_session(client, make_user, limiter) -> None:  # type: ignore[no-untyped-def]
    resp = _session(client, make_user, limiter)
    csrf, cookie = resp.json()["csrf_token"], resp.cookies[SESSION_COOKIE]
    out = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    assert (
        "max-age=0" in out.headers["set-cookie"].lower()
        or "expires=" in out.headers["set-cookie"].lower()
    )
    # The old cookie, replayed, opens nothing.
    client.cookies.set(SESSION_COOKIE, cookie)
    assert client.get("/api/v1/me").status_code == 401


def test_logout_everywhere_revokes_every_token(client, make_user, limiter) -> None:  # type: ignore[no-untyped-def]
    make_user("member", email="many@example.test", password=PASSWORD)
    t1 = _login(client, "many@example.test", PASSWORD).json()["access_token"]
    t2 = _login(client, "many@example.test", PASSWORD).json()["access_token"]
    h1, h2 = {"Authorization": f"Bearer {t1}"}, {"Authorization": f"Bearer {t2}"}
    assert client.post("/api/v1/auth/logout", headers=h1).status_code == 204
    assert client.get("/api/v1/me", headers=h1).status_code == 401
    assert client.get("/api/v1/me", headers=h2).status_code == 200  # only the presented one
    t3 = _login(client, "many@example.test", PASSWORD).json()["access_token"]
    assert client.post("/api/v1/auth/logout?everywhere=true", headers=h2).status_code == 204
    for token in (t2, t3):
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code
            == 401
        )
    assert client.post("/api/v1/auth/logout").status_code == 401


def test_sessions_expire(client, make_user, limiter) -> None:  # type: ignore[no-untyped-def]
    _session(client, make_user, limiter)
    assert client.get("/api/v1/me").status_code == 200
    clock.advance(timedelta(hours=12, seconds=1))
    assert client.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "a@example.test"},
        {"email": 5, "password": []},
        {"email": "a" * 300, "password": "x"},
    ],
)
def test_bad_login_bodies_are_422(client, limiter, payload) -> None:  # type: ignore[no-untyped-def]
    resp = client.post("/api/v1/auth/session", json=payload)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_request"


# --- mikomi users create ------------------------------------------------------------------------


def test_users_create_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    """The real command in its own process: no schema → exit 2 and what to run."""
    env = {
        **os.environ,
        "MIKOMI_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
        "MIKOMI_VAR_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mikomi.cli",
            "users",
            "create",
            "--role",
            "member",
            "--email",
            "a@example.test",
            "--password",
            "password-123",
            "--company",
            "A社",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=PROJECT_ROOT,
    )
    assert done.returncode == 2 and "mikomi db upgrade" in done.stderr


def test_users_create_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from mikomi.cli import app as cli_app
    from shared.config import get_settings
    from shared.db import reset_engine, transaction
    from shared.models import User

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    migrate.upgrade(url)
    monkeypatch.setenv("MIKOMI_DATABASE_URL", url)
    get_settings.cache_clear()
    reset_engine()
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(cli_app, ["users", "create", *args])

    try:
        made = run(
            "--role",
            "member",
            "--email",
            "Owner@Example.test",
            "--password",
            "password-123",
            "--company",
            "CLI株式会社",
            "--name",
            "所有 者",
        )
        assert made.exit_code == 0, made.output
        assert "created member user" in made.output and "owner@example.test" in made.output
        again = run(
            "--role",
            "member",
            "--email",
            "owner@example.test",
            "--password",
            "password-123",
            "--company",
            "CLI株式会社",
        )
        assert again.exit_code == 1 and "email_taken" in again.output
        op = run("--role", "operator", "--email", "ops@example.test", "--password", "password-123")
        assert op.exit_code == 0 and "created operator user" in op.output
        assert (
            run(
                "--role", "admin", "--email", "x@example.test", "--password", "password-123"
            ).exit_code
            == 2
        )
        assert (
            run(
                "--role",
                "operator",
                "--email",
                "x@example.test",
                "--password",
                "password-123",
                "--company",
                "運営会社",
            ).exit_code
            == 2
        )
        no_company = run(
            "--role", "member", "--email", "y@example.test", "--password", "password-123"
        )
        assert no_company.exit_code == 1 and "company_required" in no_company.output
        short = run("--role", "operator", "--email", "z@example.test", "--password", "short")
        assert short.exit_code == 1 and "password_too_short" in short.output
        with transaction() as db:
            rows = {u.email: (u.role, u.member_id is not None, u.name) for u in db.query(User)}
        assert rows == {
            "owner@example.test": ("member", True, "所有 者"),
            "ops@example.test": ("operator", False, ""),
        }
    finally:
        monkeypatch.delenv("MIKOMI_DATABASE_URL")
        get_settings.cache_clear()
        reset_engine()


def test_the_default_limiter_belongs_to_its_app(app, client, make_user) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from coordinator.app import create_app
    from coordinator.database import get_db

    make_user("member", email="per-app@example.test", password=PASSWORD)
    for _ in range(LOGIN_MAX_FAILURES):
        assert _login(client, "per-app@example.test", "wrong-pass").status_code == 401
    assert _login(client, "per-app@example.test", PASSWORD).status_code == 429
    # Another application (another coordinator process without Redis) keeps its own counts.
    other = create_app()
    other.dependency_overrides[get_db] = app.dependency_overrides[get_db]
    with TestClient(other) as fresh:
        assert _login(fresh, "per-app@example.test", PASSWORD).status_code == 200
