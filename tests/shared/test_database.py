from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared import clock, migrate
from shared.db import make_engine
from shared.models import Base, Member, MemberContact, Prospect


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


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migration_round_trip(kind: str, tmp_path, database_urls) -> None:  # type: ignore[no-untyped-def]
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'rt.db'}"
    else:
        from tests.conftest import _create_pg_database, _drop_pg_database

        name = f"mikomi_rt_{tmp_path.name[-8:].replace('-', '_')}"
        _drop_pg_database(name)
        url = _create_pg_database(name)
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
        if kind == "postgresql":
            _drop_pg_database(name)
