from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from shared import clock, migrate
from shared.config import get_settings
from shared.db import make_engine, may_idle
from shared.models import Base, Member, MemberContact, Prospect, prospect_fingerprint


def test_schema_matches_models(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    migrate.ensure_current(engine)


def test_rows_roll_back_between_tests_part1(db: Session) -> None:
    db.add(Member(company_name="ロールバック株式会社"))
    db.commit()
    assert (
        db.scalar(
            select(func.count())
            .select_from(Member)
            .where(Member.company_name == "ロールバック株式会社")
        )
        == 1
    )


def test_rows_roll_back_between_tests_part2(db: Session) -> None:
    assert (
        db.scalar(
            select(func.count())
            .select_from(Member)
            .where(Member.company_name == "ロールバック株式会社")
        )
        == 0
    )


def test_datetimes_come_back_aware_utc(db: Session) -> None:
    clock.set_clock(offset=timedelta(hours=3))
    member = Member(company_name="時刻株式会社")
    db.add(member)
    db.flush()
    db.expire(member)
    created = member.created_at
    assert created.tzinfo is not None
    assert created.utcoffset() == timedelta(0)


def test_member_contact_is_unique_per_member_and_domain(db: Session) -> None:
    member = Member(company_name="一意株式会社")
    db.add(member)
    db.flush()
    db.add(MemberContact(member_id=member.id, domain="example.jp"))
    db.flush()
    db.add(MemberContact(member_id=member.id, domain="example.jp"))
    with pytest.raises(IntegrityError):
        db.flush()


def test_prospect_domain_unique(db: Session) -> None:
    db.add(Prospect(company="A", url="https://a.example.jp", domain="a.example.jp"))
    db.flush()
    db.add(Prospect(company="B", url="https://a.example.jp/x", domain="a.example.jp"))
    with pytest.raises(IntegrityError):
        db.flush()


def test_sqlite_pragmas(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


@contextmanager
def scratch_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of ``kind`` for migrations to run on; dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'rt.db'}"
        return
    from tests.support.databases import create_pg_database, drop_pg_database

    name = f"mikomi_rt_{tmp_path.name[-8:].replace('-', '_')}"
    drop_pg_database(name)
    try:
        yield create_pg_database(name)
    finally:
        drop_pg_database(name)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_fingerprints_of_prospects_already_there(kind: str, tmp_path, database_urls) -> None:  # type: ignore[no-untyped-def]
    """Migration 0003 fingerprints the URL-less prospects a list already holds: the first of
    identical rows gets it, its copies keep none, and a prospect with a domain has none."""
    with scratch_database(kind, tmp_path) as url:
        migrate.upgrade(url, "0002_import_progress_at")
        engine = make_engine(url)
        try:
            insert = text(
                "INSERT INTO prospects (id, company, company_kana, url, domain, industry,"
                " prefecture, city, address, phone, tags, search_text, created_at) VALUES"
                " (:id, :company, '', :url, :domain, '', '東京都', '港区', '芝1-1', :phone, '',"
                " '', CURRENT_TIMESTAMP)"
            )
            with engine.begin() as conn:
                for pid, company, domain, phone in (
                    (1, "甲株式会社", None, "03-1111-2222"),
                    (2, "甲株式会社", None, "03-1111-2222"),
                    (3, "甲株式会社", None, "03-9999-9999"),
                    (4, "乙株式会社", "otsu.jp", "03-1111-2222"),
                ):
                    url_ = f"https://{domain}/" if domain else ""
                    conn.execute(
                        insert,
                        {
                            "id": pid,
                            "company": company,
                            "url": url_,
                            "domain": domain,
                            "phone": phone,
                        },
                    )
            migrate.upgrade(url)
            migrate.ensure_current(engine)
            with engine.connect() as conn:
                got = dict(conn.execute(text("SELECT id, fingerprint FROM prospects")).all())
            assert got[1] and got[3] and got[1] != got[3]
            assert got[2] is None and got[4] is None
            assert got[1] == prospect_fingerprint(
                None, "甲株式会社", "東京都", "港区", "芝1-1", "03-1111-2222"
            )
            with pytest.raises(IntegrityError), engine.begin() as conn:
                conn.execute(
                    text("UPDATE prospects SET fingerprint = :f WHERE id = 2"), {"f": got[1]}
                )
        finally:
            engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migration_round_trip(kind: str, tmp_path, database_urls) -> None:  # type: ignore[no-untyped-def]
    with scratch_database(kind, tmp_path) as url:
        _round_trip(url)


def _round_trip(url: str) -> None:
    engine = make_engine(url)
    try:
        migrate.upgrade(url)
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        migrate.ensure_current(engine)
        migrate.downgrade(url, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        with pytest.raises(migrate.SchemaOutOfDate):
            migrate.ensure_current(engine)
        migrate.upgrade(url)
        migrate.ensure_current(engine)
    finally:
        engine.dispose()


def test_keyword_blocks_migration_keeps_the_index(tmp_path, database_urls) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: migration 0010 builds the posting blocks from the prospects already there
    (exactly prospect_keys of each), and its downgrade gives back the 2-gram rows."""
    from shared.models import prospect_grams, prospect_keys

    with scratch_database("postgresql", tmp_path) as url:
        migrate.upgrade(url, "0009_worker_slots")
        engine = make_engine(url)
        try:
            names = ["株式会社山田工業", "森", "ミライ・テック合同会社 港区"]
            with engine.begin() as conn:
                for i, name in enumerate(names):
                    conn.execute(
                        text(
                            "INSERT INTO prospects (company, search_text, domain, url, "
                            "company_kana, industry, prefecture, city, address, phone, tags, "
                            "created_at) VALUES (:c, :s, :d, '', '', '', '', '', '', '', '', now())"
                        ),
                        {"c": name, "s": name, "d": f"d{i}.example.jp" if i else None},
                    )
            migrate.upgrade(url)
            with engine.connect() as conn:
                stored: dict[int, set[str]] = {}
                with_url: set[int] = set()
                for gram, ids, url_ids in conn.execute(
                    text("SELECT gram, ids, url_ids FROM prospect_keyword_blocks")
                ):
                    for pid in ids:
                        stored.setdefault(pid, set()).add(gram)
                    with_url.update(url_ids)
                rows = list(conn.execute(text("SELECT id, search_text, domain FROM prospects")))
            assert stored == {pid: prospect_keys(st) for pid, st, _ in rows}
            assert with_url == {pid for pid, _, domain in rows if domain}
            migrate.downgrade(url, "0009_worker_slots")
            with engine.connect() as conn:
                pairs = set(conn.execute(text("SELECT gram, prospect_id FROM prospect_grams")))
            assert pairs == {(g, pid) for pid, st, _ in rows for g in prospect_grams(st)}
            assert pairs  # the names have pieces to compare
        finally:
            engine.dispose()


@contextmanager
def _idle_limit(monkeypatch: pytest.MonkeyPatch, seconds: str) -> Iterator[None]:
    monkeypatch.setenv("MIKOMI_DB_IDLE_IN_TRANSACTION_S", seconds)
    get_settings.cache_clear()
    try:
        yield
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def _locked_member(pg: Engine) -> int:
    with Session(pg) as db:
        member = Member(company_name="回線断株式会社")
        db.add(member)
        db.commit()
        return member.id


def test_a_session_gone_silent_inside_a_transaction_lets_go_of_its_row_locks(
    database_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker host that loses its link while it holds a reservation's row lock: to the server
    it is a session idle inside its transaction. It is ended after db_idle_in_transaction_s,
    and the other hosts get the lock (without the limit they would wait for hours)."""
    with _idle_limit(monkeypatch, "1"):
        gone = make_engine(database_urls["postgresql"], poolclass=NullPool)
    other = make_engine(database_urls["postgresql"], poolclass=NullPool)
    member_id = _locked_member(other)
    held = gone.connect()
    try:
        held.begin()
        held.execute(text("SELECT id FROM members WHERE id = :id FOR UPDATE"), {"id": member_id})
        # ...and nothing more from that host.
        with other.connect() as conn, conn.begin():
            conn.execute(text("SET LOCAL lock_timeout = '20s'"))
            started = time.monotonic()
            got = conn.execute(
                text("SELECT id FROM members WHERE id = :id FOR UPDATE"), {"id": member_id}
            ).scalar_one()
            waited = time.monotonic() - started
        assert got == member_id
        assert 0.5 < waited < 15
        with pytest.raises(DBAPIError, match="idle-in-transaction"):  # its session is gone
            held.execute(text("SELECT 1"))
    finally:
        held.close()
        with other.begin() as conn:
            conn.execute(text("DELETE FROM members WHERE id = :id"), {"id": member_id})
        gone.dispose()
        other.dispose()


def test_a_streamed_download_may_wait_on_its_client(
    database_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``may_idle``: a read-only transaction that waits on a slow client between batches is
    exempt from the limit."""
    with _idle_limit(monkeypatch, "1"):
        pg = make_engine(database_urls["postgresql"], poolclass=NullPool)
    try:
        with Session(pg) as db:
            db.execute(text("SELECT 1"))
            limited = db.scalar(text("SHOW idle_in_transaction_session_timeout"))
            may_idle(db)
            time.sleep(2.5)
            assert db.scalar(text("SELECT count(*) FROM members")) is not None
        assert limited == "1s"
    finally:
        pg.dispose()
