"""The 法人番号 registry import (coordinator/prospects/registry.py) on SQLite and PostgreSQL:
encodings and zips, re-imports with changes and closures in place, resuming after a kill, the
error for a file of another format, the CSV join by corporate number, and closed corporations
never queued."""

from __future__ import annotations

import multiprocessing
import os
import signal
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from coordinator.errors import AppError
from coordinator.prospects import importer, registry, search
from coordinator.prospects.registry_sample import (
    changes,
    corporations,
    write_registry,
)
from coordinator.reservations import service
from shared.db import transaction
from shared.models import ImportJob, Prospect, SendItem
from tests.builders import MemberEnv, principal_of


@pytest.fixture(autouse=True)
def _only_this_tests_prospects(only_this_tests_prospects: None) -> None:
    """Every test here sees only the prospects it made (tests/coordinator/prospects/conftest.py)."""


def _run(db: Session, path: Path, **kwargs) -> importer.ImportProgress:  # type: ignore[no-untyped-def]
    job = registry.start_job(db, path, filename=path.name, created_by=None)
    db.commit()
    return registry.run_import(
        path, job.id, sessions=lambda: transaction(db), analyze=False, **kwargs
    )


def _by_number(db: Session) -> dict[str, Prospect]:
    db.expire_all()  # the imports write with Core statements
    rows = db.scalars(select(Prospect).where(Prospect.corporate_number.is_not(None)))
    return {p.corporate_number: p for p in rows if p.corporate_number}


def _count(db: Session) -> int:
    return int(db.execute(select(func.count()).select_from(Prospect)).scalar_one())


@pytest.mark.parametrize(
    ("encoding", "zipped"),
    [("utf-8", False), ("utf-8-sig", True), ("cp932", False), ("cp932", True)],
)
def test_imports_a_generated_file_in_each_encoding_zipped_or_not(
    db: Session, tmp_path: Path, encoding: str, zipped: bool
) -> None:
    corps = list(corporations(120))
    path = tmp_path / ("r.zip" if zipped else "r.csv")
    write_registry(path, corps, encoding=encoding, zipped=zipped)
    # The zipped Shift_JIS file is read by a second process, as big files are.
    result = _run(db, path, batch_size=50, parallel=zipped and encoding == "cp932")
    assert (result.status, result.imported, result.rejected) == ("done", 120, 0)
    rows = _by_number(db)
    assert len(rows) == 120
    first = rows[corps[0].number]
    assert (first.company, first.company_kana, first.prefecture, first.city, first.address) == (
        corps[0].name,
        corps[0].kana,
        corps[0].prefecture,
        corps[0].city,
        corps[0].street,
    )
    assert first.closed_at is None and first.domain is None and first.fingerprint is None
    # The keyword index has the registry rows: a piece of the furigana finds the company.
    q = search.ProspectQuery(keyword=corps[0].kana)
    total, found = search.search(db, q, None)
    assert corps[0].number in {p.corporate_number for p in found} and total >= 1
    job = db.get(ImportJob, result.job_id)
    assert job is not None and (job.kind, job.status, job.rows_imported) == (
        "registry",
        "done",
        120,
    )


def test_reimport_with_changes_and_closures_updates_in_place(db: Session, tmp_path: Path) -> None:
    corps = list(corporations(90))
    write_registry(tmp_path / "all.csv", corps)
    assert _run(db, tmp_path / "all.csv").imported == 90
    ids = {n: p.id for n, p in _by_number(db).items()}
    # A website and an industry reach a registry row through the prospects CSV join.
    target = corps[3]
    csv_path = tmp_path / "sites.csv"
    csv_path.write_text(
        "company,url,industry,employees,corporate_number\n"
        f"どこかの名前,https://www.example-{target.number}.jp/,建設業,42,{target.number}\n",
        encoding="utf-8",
    )
    job = importer.create_job(db, filename="sites.csv", created_by=None)
    db.commit()
    joined = importer.run_import(csv_path, job.id, sessions=lambda: transaction(db), analyze=False)
    assert (joined.imported, joined.duplicates, joined.rejected) == (1, 0, 0)

    delta = list(changes(corps, every=10))  # renames (0, 30, 60), moves (10, 40 …), closures
    write_registry(tmp_path / "diff.zip", delta, encoding="cp932", zipped=True)
    result = _run(db, tmp_path / "diff.zip")
    assert (result.status, result.imported, result.rejected) == ("done", len(delta), 0)
    assert _count(db) == 90  # nothing duplicated
    rows = _by_number(db)
    assert {n: p.id for n, p in rows.items()} == ids  # updated in place
    renamed, moved, closed = rows[corps[0].number], rows[corps[10].number], rows[corps[20].number]
    assert renamed.company == corps[0].name + "ホールディングス"
    assert (moved.prefecture, moved.city) == ("沖縄県", "那覇市")
    assert closed.closed_at is not None and str(closed.closed_at) == "2026-11-30"
    assert rows[corps[1].number].closed_at is None
    # The join's website, industry and employees survive the registry's update of that row.
    joined_row = rows[target.number]
    assert (joined_row.domain, joined_row.industry, joined_row.employees) == (
        f"example-{target.number}.jp",
        "建設業",
        42,
    )
    assert joined_row.company == target.name  # the registry's name, not the CSV's
    # The keyword index follows the new name; the old pieces of the name are gone from it.
    total, found = search.search(db, search.ProspectQuery(keyword="ホールディングス"), None)
    assert {p.corporate_number for p in found} == {c.number for c in delta if c.process == "11"}
    _, found = search.search(db, search.ProspectQuery(keyword="那覇"), None)
    assert moved.corporate_number in {p.corporate_number for p in found}
    old_city = search.ProspectQuery(keyword=corps[10].city, per_page=200)
    _, found = search.search(db, old_city, None)
    assert moved.corporate_number not in {p.corporate_number for p in found}

    # The same change file again changes nothing; an older full file overwrites nothing.
    again = _run(db, tmp_path / "diff.zip")
    assert (again.imported, again.duplicates) == (0, len(delta))
    older = [replace(c, updated="2026-01-01") for c in corps]
    write_registry(tmp_path / "old.csv", older)
    assert _run(db, tmp_path / "old.csv").imported == 0
    assert _by_number(db)[corps[0].number].company == corps[0].name + "ホールディングス"
    # A restoration (22) opens a closed corporation again.
    reopened = [replace(corps[20], process="22", updated="2026-12-01")]
    write_registry(tmp_path / "reopen.csv", reopened)
    assert _run(db, tmp_path / "reopen.csv").imported == 1
    assert _by_number(db)[corps[20].number].closed_at is None


def test_a_file_of_another_format_gets_the_japanese_error(db: Session, tmp_path: Path) -> None:
    prospects_csv = tmp_path / "p.csv"
    prospects_csv.write_text("company,url\n株式会社A,https://a.example.jp/\n", encoding="utf-8")
    with pytest.raises(AppError) as caught:
        registry.inspect(prospects_csv)
    assert "法人番号の全件データ" in caught.value.message
    assert "mikomi prospects import" in caught.value.message
    garbage = tmp_path / "g.csv"
    garbage.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    with pytest.raises(AppError) as caught:
        registry.inspect(garbage)
    assert "30列" in caught.value.message
    result = _run(db, garbage)
    assert result.status == "failed" and "法人番号" in result.error
    assert _count(db) == 0


def test_bad_rows_are_reported_and_the_rest_imported(db: Session, tmp_path: Path) -> None:
    corps = list(corporations(5))
    corps[2] = replace(corps[2], number="12345")
    corps[3] = replace(corps[3], process="55")
    write_registry(tmp_path / "r.csv", corps)
    result = _run(db, tmp_path / "r.csv")
    assert (result.imported, result.rejected) == (3, 2)
    assert [(e["line"], e["code"]) for e in result.report] == [
        (3, "invalid_corporate_number"),
        (4, "invalid_process"),
    ]


def test_a_reservation_never_queues_a_closed_corporation(db: Session, make_user) -> None:  # type: ignore[no-untyped-def]
    env = MemberEnv(db, make_user, tickets=1_000, prospects=900)
    ours = select(Prospect.id).where(Prospect.industry == env.industry).order_by(Prospect.id)
    first_half = list(db.scalars(ours.limit(300)))
    db.execute(
        update(Prospect).where(Prospect.id.in_(first_half)).values(closed_at=func.current_date())
    )
    db.commit()
    operator, _ = make_user("operator", company=None)
    r = service.create(
        db, env.principal, count=300, senders=1, list_url=env.list_url, script_id=env.script.id
    )
    service.approve(db, principal_of(operator), r.id)
    db.flush()
    queued = list(db.scalars(select(SendItem.prospect_id).where(SendItem.reservation_id == r.id)))
    assert queued and not set(queued) & set(first_half)
    # The search still shows them (kept, with their count).
    total = search.count(db, search.ProspectQuery(industry=(env.industry,)), env.member_id)
    assert total == 900


@pytest.mark.timeout(60)
def test_a_reader_process_that_dies_ends_the_import_instead_of_hanging(tmp_path: Path) -> None:
    """The parallel import's reading process killed (out of memory, say): the writer stops
    with a clear error instead of waiting for batches that will never come."""
    path = tmp_path / "r.zip"
    write_registry(path, corporations(400), zipped=True)
    with registry._chunks_from_child(path, 0, 10) as parsed:
        assert len(next(parsed).rows) == 10
        (child,) = multiprocessing.active_children()
        os.kill(child.pid or 0, signal.SIGKILL)
        with pytest.raises(AppError) as ended:
            for _ in parsed:  # at most the two batches that were already waiting
                pass
    assert ended.value.code == "registry_reader_died"
    assert "終了コード -9" in ended.value.message
