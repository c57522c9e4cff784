"""Prospect CSV import: encodings, header, row-level report, duplicates, batches and progress."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coordinator import sweeper
from coordinator.errors import AppError
from coordinator.prospects import import_reading, importer
from coordinator.prospects.router import get_import_runner
from shared import clock
from shared.db import transaction
from shared.models import ImportJob, Prospect

HEADER = "company,url,industry,prefecture,city,address,phone,employees,capital,founded\n"
GOOD = (
    "株式会社サクラ建設,https://www.sakura.co.jp/,建設業,東京都,港区,芝1-1,03-1111-2222,10,10000000,1990\n"
    'アオバ商事株式会社,aoba.jp,卸売業,大阪,北区,梅田2-2,06-1111-2222,"1,200","30,000,000",2001年\n'
    "ヒカリ工業株式会社,,製造業,愛知県,,,,,,\n"
)


@pytest.fixture(autouse=True)
def _only_this_tests_prospects(only_this_tests_prospects: None) -> None:
    """Every test here sees only the prospects it made (tests/coordinator/prospects/conftest.py)."""


def opener_for(db: Session):  # type: ignore[no-untyped-def]
    """One transaction per call on the test's session (its commit releases a savepoint)."""
    return lambda: transaction(db)


def run(db: Session, path: Path, **kwargs) -> importer.ImportProgress:  # type: ignore[no-untyped-def]
    job = importer.create_job(db, filename=path.name, created_by=None)
    db.commit()
    return importer.run_import(path, job.id, sessions=opener_for(db), analyze=False, **kwargs)


def count(db: Session) -> int:
    return int(db.execute(select(func.count()).select_from(Prospect)).scalar_one())


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_imports_utf8_bom_and_shift_jis(db: Session, tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes((HEADER + GOOD).encode(encoding))
    result = run(db, path)
    assert (result.status, result.imported, result.duplicates, result.rejected) == ("done", 3, 0, 0)
    rows = {p.company: p for p in db.scalars(select(Prospect))}
    sakura = rows["株式会社サクラ建設"]
    assert (sakura.domain, sakura.url, sakura.prefecture, sakura.employees, sakura.founded) == (
        "sakura.co.jp",
        "https://www.sakura.co.jp/",
        "東京都",
        10,
        1990,
    )
    aoba = rows["アオバ商事株式会社"]
    assert (aoba.domain, aoba.url, aoba.prefecture, aoba.employees, aoba.capital, aoba.founded) == (
        "aoba.jp",
        "http://aoba.jp",
        "大阪府",
        1200,
        30_000_000,
        2001,
    )
    assert rows["ヒカリ工業株式会社"].domain is None and rows["ヒカリ工業株式会社"].url == ""
    job = db.get(ImportJob, result.job_id)
    assert job is not None and job.status == "done" and job.rows_imported == 3
    assert job.finished_at is not None


def test_japanese_header_any_order_and_crlf(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "ja.csv"
    path.write_bytes(
        "URL,会社名,従業員数,不明な列\r\nhttps://x.jp,株式会社エックス,3,無視\r\n".encode("cp932")
    )
    result = run(db, path)
    assert result.imported == 1
    p = db.scalars(select(Prospect)).one()
    assert (p.company, p.domain, p.employees) == ("株式会社エックス", "x.jp", 3)


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("name,url\nA社,https://a.jp\n", "missing_columns"),
        ("company,industry\nA社,IT\n", "missing_columns"),
        ("", "empty_csv"),
        ("company,url,company\nA,b.jp,C\n", "duplicate_column"),
    ],
)
def test_a_bad_header_is_refused_before_anything_is_written(
    db: Session, tmp_path: Path, content: str, code: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(AppError) as caught:
        import_reading.inspect(path)
    assert caught.value.code == code
    result = run(db, path)
    assert result.status == "failed" and result.imported == 0
    assert result.report[-1]["code"] == code
    assert count(db) == 0


def test_utf16_is_refused_clearly(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes((HEADER + GOOD).encode("utf-16"))
    with pytest.raises(AppError) as caught:
        import_reading.inspect(path)
    assert caught.value.code == "unsupported_encoding"


def test_rejected_rows_are_reported_with_line_and_reason(db: Session, tmp_path: Path) -> None:
    big = "x" * (10 * 1024 * 1024)
    lines = [
        "良い会社株式会社,https://good.jp,,,,,,,,",  # line 2
        ",https://nocompany.jp,,,,,,,,",  # 3: missing company
        "悪いURL株式会社,not a url,,,,,,,,",  # 4
        "メール株式会社,mailto:a@b.jp,,,,,,,,",  # 5
        "従業員株式会社,https://emp.jp,,,,,,たくさん,,",  # 6
        f"巨大株式会社,https://huge.jp,{big},,,,,,,",  # 7: a 10 MB line
        "県株式会社,https://pref.jp,,火星,,,,,,",  # 8
        "設立株式会社,https://founded.jp,,,,,,,,3000",  # 9
        "列株式会社,https://cols.jp,,,,,,,,,余分",  # 10
        '"改行\n株式会社",https://multi.jp,,,,,,,,',  # 11-12: a quoted newline is fine
        "最後株式会社,https://last.jp,,,,,,,,",  # 13
    ]
    path = tmp_path / "mixed.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    result = run(db, path)
    assert result.status == "done"
    assert (result.rows_total, result.imported, result.rejected) == (11, 3, 8)
    by_line = {entry["line"]: entry for entry in result.report}
    assert by_line[3]["code"] == "missing_company"
    assert by_line[4]["code"] == "invalid_url" and "not a url" in by_line[4]["reason"]
    assert by_line[5]["code"] == "invalid_url"
    assert by_line[6]["code"] == "invalid_employees" and "従業員数" in by_line[6]["reason"]
    assert by_line[7]["code"] == "line_too_long"
    assert by_line[8]["code"] == "invalid_prefecture"
    assert by_line[9]["code"] == "invalid_founded"
    assert by_line[10]["code"] == "too_many_columns"
    assert sorted(p.domain for p in db.scalars(select(Prospect))) == [
        "good.jp",
        "last.jp",
        "multi.jp",
    ]
    job = db.get(ImportJob, result.job_id)
    assert job is not None and job.rows_rejected == 8 and len(job.report or []) == 8


def test_duplicate_domains_in_the_file_and_in_the_database(db: Session, tmp_path: Path) -> None:
    db.add(Prospect(company="既存株式会社", url="https://old.jp", domain="old.jp"))
    db.commit()
    rows = [f"会社{i}株式会社,https://c{i}.jp,,,,,,,," for i in range(7)]
    rows += [
        "重複1,http://www.c1.jp/contact,,,,,,,,",
        "重複2,C2.JP,,,,,,,,",
        "既存の別表記,https://www.old.jp/,,,,,,,,",
        "URLなし1,,,東京都,港区,芝1-1,03-1111-2222,,,",
        "URLなし2,,,東京都,港区,芝1-1,03-1111-2222,,,",
        # Without a URL, the same company, prefecture, city, address and phone is the same
        # row, however it is spaced or written (full width, 東京/東京都, ー for -).
        "ＵＲＬなし１,,,東京,港区, 芝１ー１,0311112222,,,",
        # … and another phone number is another company.
        "URLなし1,,,東京都,港区,芝1-1,03-9999-9999,,,",
    ]
    path = tmp_path / "dups.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    # batch_size 3: duplicates across batches are caught as well as within one
    result = run(db, path, batch_size=3)
    assert (result.imported, result.duplicates, result.rejected) == (10, 4, 0)
    assert count(db) == 11
    urlless = db.scalars(select(Prospect).where(Prospect.domain.is_(None))).all()
    assert sorted((p.company, p.phone) for p in urlless) == [
        ("URLなし1", "03-1111-2222"),
        ("URLなし1", "03-9999-9999"),
        ("URLなし2", "03-1111-2222"),
    ]
    assert all(p.fingerprint for p in urlless)
    again = run(db, path)  # the same file again adds nothing
    assert (again.imported, again.duplicates) == (0, 14)
    assert count(db) == 11


def test_progress_is_saved_every_batch(db: Session, tmp_path: Path) -> None:
    rows = [f"会社{i}株式会社,https://p{i}.jp,,,,,,,," for i in range(25)]
    path = tmp_path / "progress.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    seen: list[tuple[int, int, str]] = []

    def on_progress(progress: importer.ImportProgress) -> None:
        job = db.get(ImportJob, progress.job_id)
        assert job is not None
        db.refresh(job)
        seen.append((job.rows_imported, job.rows_total, job.status))

    run(db, path, batch_size=10, on_progress=on_progress)
    assert seen[:3] == [(10, 10, "running"), (20, 20, "running"), (25, 25, "running")]
    assert seen[-1] == (25, 25, "done")


def import_dying_in_second_batch(
    db: Session, tmp_path: Path, prefix: str, error: BaseException
) -> ImportJob:
    """Import 25 rows in batches of 10 and raise ``error`` in the second batch, after its rows
    are written and before its commit; the job is returned as the database has it."""
    rows = [f"会社{i}株式会社,https://{prefix}{i}.jp,,,,,,,," for i in range(25)]
    path = tmp_path / f"{prefix}.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    job = importer.create_job(db, filename=path.name, created_by=None)
    db.commit()
    real = opener_for(db)
    calls = {"n": 0}

    @contextmanager
    def failing_on_second_batch() -> Iterator[Session]:
        calls["n"] += 1
        with real() as session:
            yield session
            if calls["n"] == 2:
                raise error

    with pytest.raises(type(error)):
        importer.run_import(
            path, job.id, sessions=failing_on_second_batch, batch_size=10, analyze=False
        )
    db.expire_all()
    assert count(db) == 10  # the first batch landed; the second did not land at all
    saved = db.get(ImportJob, job.id)
    assert saved is not None
    return saved


def test_a_fatal_error_keeps_whole_batches_only(db: Session, tmp_path: Path) -> None:
    saved = import_dying_in_second_batch(db, tmp_path, "f", OSError("disk full"))
    assert saved.status == "failed"
    assert saved.rows_imported == 10 and saved.finished_at is not None
    assert "disk full" in (saved.report or [])[-1]["reason"]


def test_an_import_cut_off_by_a_restart_is_marked_failed_by_the_sweeper(
    db: Session, tmp_path: Path
) -> None:
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    clock.set_clock(t0)
    # Not an Exception: nothing in the importer runs, as when the process is killed.
    cut = import_dying_in_second_batch(db, tmp_path, "cut", SystemExit("killed"))
    assert cut.status == "running" and cut.rows_imported == 10
    assert cut.progress_at == t0

    clock.set_clock(t0 + timedelta(minutes=1))
    later = importer.create_job(db, filename="later.csv", created_by=None)
    db.commit()
    assert sweeper.run_once(t0 + timedelta(minutes=10), db=db)["imports_interrupted"] == 0
    swept = sweeper.run_once(t0 + timedelta(minutes=10, seconds=1), db=db)
    assert swept["imports_interrupted"] == 1
    db.expire_all()
    assert cut.status == "failed" and cut.rows_imported == 10
    assert cut.finished_at == t0 + timedelta(minutes=10, seconds=1)
    assert (cut.report or [])[-1]["code"] == "interrupted"
    assert later.status == "running"

    # Importing the file again finishes the job: what landed counts as duplicates.
    clock.set_clock(t0 + timedelta(minutes=11))
    again = run(db, tmp_path / "cut.csv")
    assert (again.status, again.imported, again.duplicates) == ("done", 15, 10)
    assert count(db) == 25


# --- over HTTP -------------------------------------------------------------------------------


@pytest.fixture
def inline_imports(app, db):  # type: ignore[no-untyped-def]
    """Run accepted imports inline, on the test's session, instead of in a thread."""

    def runner(path: Path, job_id: int) -> None:
        try:
            importer.run_import(path, job_id, sessions=opener_for(db), analyze=False)
        finally:
            path.unlink(missing_ok=True)

    app.dependency_overrides[get_import_runner] = lambda: runner
    return runner


def test_operator_uploads_a_csv_and_follows_the_job(client, make_user, db, inline_imports) -> None:  # type: ignore[no-untyped-def]
    _, headers = make_user("operator")
    body = (HEADER + GOOD + "重複,http://sakura.co.jp,,,,,,,,\n").encode("cp932")
    resp = client.post(
        "/api/v1/prospects/import",
        headers=headers,
        files={"file": ("見込客.csv", body, "text/csv")},
    )
    assert resp.status_code == 202, resp.text
    job = resp.json()
    assert job["filename"] == "見込客.csv"
    status = client.get(f"/api/v1/prospects/imports/{job['id']}", headers=headers).json()
    assert (
        status["status"],
        status["rows_total"],
        status["rows_imported"],
        status["rows_duplicate"],
    ) == ("done", 4, 3, 1)
    listed = client.get("/api/v1/prospects/imports", headers=headers).json()["jobs"]
    assert listed[0]["id"] == job["id"]


def test_raw_body_upload(client, make_user, db, inline_imports) -> None:  # type: ignore[no-untyped-def]
    _, headers = make_user("operator")
    resp = client.post(
        "/api/v1/prospects/import?filename=raw.csv",
        content=(HEADER + GOOD).encode(),
        headers={**headers, "content-type": "text/csv"},
    )
    assert resp.status_code == 202
    assert count(db) == 3


def test_upload_with_missing_columns_is_400_and_writes_nothing(
    client, make_user, db, inline_imports
) -> None:  # type: ignore[no-untyped-def]
    _, headers = make_user("operator")
    resp = client.post(
        "/api/v1/prospects/import",
        headers=headers,
        files={"file": ("x.csv", b"name,site\nA,a.jp\n", "text/csv")},
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "missing_columns"
    assert count(db) == 0
    assert db.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_only_operators_import(client, make_user, db, inline_imports) -> None:  # type: ignore[no-untyped-def]
    files = {"file": ("x.csv", (HEADER + GOOD).encode(), "text/csv")}
    assert client.post("/api/v1/prospects/import", files=files).status_code == 401
    _, member = make_user("member")
    _, op = make_user("operator")
    db.commit()  # keep the users through the refused requests' rollbacks
    resp = client.post("/api/v1/prospects/import", files=files, headers=member)
    assert resp.status_code == 403
    assert client.get("/api/v1/prospects/imports/1", headers=member).status_code == 403
    assert client.get("/api/v1/prospects/imports/999999", headers=op).status_code == 404


def test_imported_prospects_are_found_by_keyword(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "kw.csv"
    path.write_bytes((HEADER + GOOD).encode("utf-8"))
    run(db, path)
    from coordinator.prospects import search

    def found(keyword: str) -> list[str]:
        return [
            p.company for p in search.search(db, search.ProspectQuery(keyword=keyword), None)[1]
        ]

    assert found("サクラ") == ["株式会社サクラ建設"]
    assert found("建設") == ["株式会社サクラ建設"]  # a 2-character term: the index alone
    assert found("株式会社サクラ建設") == ["株式会社サクラ建設"]
    assert found("梅田") == []  # the address is not part of the keyword
    assert found("商事 北区") == ["アオバ商事株式会社"]
    assert sorted(found("株式会社")) == sorted(
        ["アオバ商事株式会社", "株式会社サクラ建設", "ヒカリ工業株式会社"]
    )


def test_the_import_command_shows_a_summary(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "MIKOMI_VAR_DIR": str(tmp_path / "var"), "MIKOMI_DATABASE_URL": ""}
    mikomi = [sys.executable, "-m", "mikomi.cli"]
    subprocess.run([*mikomi, "db", "upgrade"], env=env, check=True, capture_output=True)
    path = tmp_path / "cli.csv"
    path.write_bytes(
        (HEADER + GOOD + "重複,sakura.co.jp,,,,,,,,\n,https://x.jp,,,,,,,,\n").encode("cp932")
    )
    done = subprocess.run(
        [*mikomi, "prospects", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "取込 3件" in done.stdout and "重複 1件" in done.stdout and "不正 1件" in done.stdout
    assert "6行目" in done.stdout  # the rejected row, by its line
    bad = tmp_path / "bad.csv"
    bad.write_text("name\nx\n", encoding="utf-8")
    refused = subprocess.run(
        [*mikomi, "prospects", "import", str(bad)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1 and "company" in refused.stdout
