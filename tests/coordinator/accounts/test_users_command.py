"""``mikomi users list|disable|enable|set-password`` on a real database, and what they do to
sessions: a disabled user or a changed password ends every session and token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from coordinator.accounts import service
from shared import migrate
from shared.config import get_settings
from shared.db import reset_engine, transaction
from shared.enums import Role
from shared.models import AuthToken


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    migrate.upgrade(url)
    monkeypatch.setenv("MIKOMI_DATABASE_URL", url)
    get_settings.cache_clear()
    reset_engine()
    yield
    monkeypatch.delenv("MIKOMI_DATABASE_URL")
    get_settings.cache_clear()
    reset_engine()


def _run(*args: str):  # type: ignore[no-untyped-def]
    from mikomi.cli import app as cli_app

    return CliRunner().invoke(cli_app, ["users", *args])


def _tokens(email: str) -> int:
    with transaction() as db:
        user = service.user_by_email(db, email)
        return int(db.scalar(select(func.count()).where(AuthToken.user_id == user.id)) or 0)


def test_list_disable_enable_and_set_password(cli_db: None) -> None:
    with transaction() as db:
        member = service.create_user(
            db, email="m@example.test", password="password-123", role=Role.MEMBER, company="A社"
        )
        service.issue_token(db, member, "session")
        service.issue_token(db, member, "api")
        service.create_user(
            db, email="ops@example.test", password="password-123", role=Role.OPERATOR
        )

    listed = _run("list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split("\t") == ["id", "role", "email", "member", "state"]
    assert any(line.split("\t")[1:3] == ["member", "m@example.test"] for line in lines)
    assert any(
        line.split("\t")[1:] == ["operator", "ops@example.test", "-", "active"] for line in lines
    )

    assert _tokens("m@example.test") == 2
    assert _run("disable", "m@example.test").exit_code == 0
    assert _tokens("m@example.test") == 0
    assert "\tdisabled" in _run("list").output
    with transaction() as db, pytest.raises(Exception, match="正しくありません"):
        service.authenticate(db, "m@example.test", "password-123")

    assert _run("enable", "m@example.test").exit_code == 0
    with transaction() as db:
        user = service.authenticate(db, "m@example.test", "password-123")
        service.issue_token(db, user, "session")

    changed = _run("set-password", "m@example.test", "--password", "new-password-456")
    assert changed.exit_code == 0, changed.output
    assert _tokens("m@example.test") == 0
    with transaction() as db:
        service.authenticate(db, "m@example.test", "new-password-456")

    short = _run("set-password", "m@example.test", "--password", "short")
    assert short.exit_code == 1 and "password_too_short" in short.output
    unknown = _run("disable", "nobody@example.test")
    assert unknown.exit_code == 1 and "見つかりません" in unknown.output


def test_expired_tokens_are_purged(db) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from shared import clock

    user = service.create_user(
        db, email="old@example.test", password="password-123", role=Role.OPERATOR
    )
    service.issue_token(db, user, "session")
    service.issue_token(db, user, "api")
    clock.advance(service.SESSION_TTL + timedelta(seconds=1))
    assert service.purge_expired_tokens(db) == 1  # the session; the API token lives longer
    clock.advance(service.API_TOKEN_TTL)
    assert service.purge_expired_tokens(db) == 1
    assert db.scalar(select(func.count()).where(AuthToken.user_id == user.id)) == 0
