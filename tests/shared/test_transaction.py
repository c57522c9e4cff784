"""shared.db.transaction, the one owner of a transaction, and shared.locks."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from shared import locks, migrate
from shared.db import after_commit, rollback, transaction
from shared.models import Member


def _members_named(db: Session, name: str) -> int:
    return db.scalar(select(func.count()).select_from(Member).where(Member.company_name == name))


def test_hooks_run_once_in_order_after_the_commit(db: Session) -> None:
    ran: list[str] = []
    with transaction(db):
        db.add(Member(company_name="フック株式会社"))
        after_commit(db, lambda: ran.append(f"first saw {_members_named(db, 'フック株式会社')}"))
        after_commit(db, lambda: ran.append("second"))
        assert ran == []
    assert ran == ["first saw 1", "second"]
    with transaction(db):
        pass
    assert ran == ["first saw 1", "second"]  # the hooks belonged to the first transaction


def test_an_error_rolls_back_and_drops_the_hooks(db: Session) -> None:
    ran: list[str] = []
    with pytest.raises(LookupError), transaction(db):
        db.add(Member(company_name="巻き戻し株式会社"))
        db.flush()
        after_commit(db, lambda: ran.append("never"))
        raise LookupError
    assert _members_named(db, "巻き戻し株式会社") == 0
    with transaction(db):
        pass
    assert ran == []


def test_rollback_forgets_the_hooks(db: Session) -> None:
    ran: list[str] = []
    after_commit(db, lambda: ran.append("never"))
    rollback(db)
    with transaction(db):
        pass
    assert ran == []


def test_one_hook_per_key_and_transaction(db: Session) -> None:
    ran: list[int] = []
    first = after_commit(db, lambda: ran.append(1), key="k")
    second = after_commit(db, lambda: ran.append(2), key="k")
    assert second is first
    with transaction(db):
        pass
    assert ran == [1]


def test_a_failing_hook_is_logged_and_the_others_still_run(
    db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("redis is away")

    after_commit(db, broken)
    after_commit(db, lambda: ran.append("after"))
    with caplog.at_level(logging.ERROR, logger="shared.db"), transaction(db):
        pass
    assert ran == ["after"]
    assert "after-commit hook failed" in caplog.text and "redis is away" in caplog.text


def test_without_a_session_it_opens_commits_and_closes_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.config import get_settings
    from shared.db import get_engine, reset_engine

    url = f"sqlite:///{tmp_path / 'own.db'}"
    migrate.upgrade(url)
    monkeypatch.setenv("MIKOMI_DATABASE_URL", url)
    get_settings.cache_clear()
    reset_engine()
    try:
        with transaction() as db:
            db.add(Member(company_name="自前株式会社"))
        assert get_engine().pool.checkedout() == 0  # the session was closed
        with get_engine().connect() as conn:
            names = conn.execute(text("SELECT company_name FROM members")).scalars().all()
        assert names == ["自前株式会社"]
    finally:
        monkeypatch.delenv("MIKOMI_DATABASE_URL")
        get_settings.cache_clear()
        reset_engine()


def test_the_sqlite_writer_lock_keeps_other_writers_out(engines: dict[str, Engine]) -> None:
    engine = engines["sqlite"]
    with Session(bind=engine) as holder, engine.connect() as other:
        locks.writer_lock(holder)
        other.exec_driver_sql("PRAGMA busy_timeout=100")
        try:
            with pytest.raises(OperationalError, match="locked"):
                other.execute(text("UPDATE members SET id = id WHERE 0"))
            other.rollback()
            holder.rollback()
            other.execute(text("UPDATE members SET id = id WHERE 0"))  # free again
            other.rollback()
        finally:
            other.exec_driver_sql("PRAGMA busy_timeout=30000")  # as the engine sets it


def test_claims_are_serialized_on_postgresql(engines: dict[str, Engine]) -> None:
    engine = engines["postgresql"]
    key = select(func.pg_try_advisory_xact_lock(locks._CLAIM_LOCK_KEY))
    with Session(bind=engine) as holder, engine.connect() as other:
        locks.claim_lock(holder)
        assert other.scalar(key) is False
        other.rollback()
        holder.rollback()  # the lock ends with the transaction
        assert other.scalar(key) is True
        other.rollback()
