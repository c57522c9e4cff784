"""Prospect CSV import: streamed, deduplicated, one transaction per batch.

A row is a duplicate when its normalized domain is already in the list (or earlier in the
file); a row without a URL, when a row with the same company, prefecture, city, address and
phone is (:func:`shared.models.prospect_fingerprint`). Importing a file twice adds nothing.

The file is read record by record (never whole); each record is bounded in size, so a 10 MB
line is one rejected row, not a 10 MB string. Valid rows go to the database in batches; a batch
and the import job's counters commit together, so the job always says exactly what landed.

Header: ``company,url,industry,prefecture,city,address,phone,employees,capital,founded`` (also
``company_kana`` and ``tags``; the Japanese headers of the CSV export are accepted too, so an
export can be imported again). Only ``company`` and ``url`` are required; other columns may be
missing or in any order, unknown columns are ignored. Encoding: UTF-8 with or without BOM, or
Shift_JIS (cp932), detected from the first megabyte.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session

from coordinator.errors import AppError
from coordinator.prospects.regions import normalize_prefecture
from shared import clock
from shared.domains import normalize_domain
from shared.models import (
    ImportJob,
    Prospect,
    prospect_fingerprint,
    prospect_grams,
    prospect_search_text,
)

SessionOpener = Callable[[], AbstractContextManager[Session]]
ProgressFn = Callable[["ImportProgress"], None]

BATCH_SIZE = 5_000
# A running import commits a batch every few seconds; this long without one means it is gone.
STALE_AFTER = timedelta(minutes=10)
MAX_RECORD_BYTES = 1_000_000  # one CSV record (a company is a few hundred bytes)
SNIFF_BYTES = 1_000_000
MAX_REPORT_ENTRIES = 1_000

REQUIRED_COLUMNS = ("company", "url")
COLUMNS = (
    "company", "url", "industry", "prefecture", "city", "address", "phone",
    "employees", "capital", "founded", "company_kana", "tags",
)  # fmt: skip
# Japanese headers (the CSV export's) and common variants → column names.
HEADER_ALIASES = {
    "会社名": "company", "企業名": "company", "会社名カナ": "company_kana",
    "会社名(カナ)": "company_kana", "url": "url", "ホームページ": "url", "ウェブサイト": "url",
    "業種": "industry", "都道府県": "prefecture", "市区町村": "city", "住所": "address",
    "電話番号": "phone", "従業員数": "employees", "資本金": "capital", "設立": "founded",
    "設立年": "founded", "タグ": "tags",
}  # fmt: skip
_MAX_LENGTH = {
    "company": 300, "company_kana": 300, "url": 1000, "industry": 100, "city": 100,
    "address": 300, "phone": 50, "tags": 500,
}  # fmt: skip
_UTF8_BOM = codecs.BOM_UTF8
_NUMBER = re.compile(r"\d{1,18}")
_URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class ImportFormatError(AppError):
    """The file as a whole cannot be imported (nothing was written)."""


@dataclass
class CsvLayout:
    encoding: str  # "utf-8", "utf-8-sig" or "cp932"
    columns: dict[str, int]  # column name → index in a record
    header_width: int
    data_offset: int  # byte offset of the first data record
    header_lines: int = 1
    ascii_sample: bool = False  # the sniffed start was pure ASCII: later rows may be cp932


@dataclass
class ImportProgress:
    job_id: int
    bytes_read: int = 0
    bytes_total: int = 0
    rows_total: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    report: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"
    error: str = ""


@dataclass
class _Record:
    line: int
    raw: bytes | None  # None: over the size limit
    size: int


# --- reading ---------------------------------------------------------------------------------


def _records(fh: BinaryIO, lines_before: int = 0) -> Iterator[_Record]:
    """Physical lines joined into CSV records (a quoted field may span lines), each bounded;
    ``line`` is the physical line number (1-based) where the record starts."""
    line_no = lines_before
    while True:
        start_line = line_no + 1
        parts: list[bytes] = []
        size = 0
        quotes = 0
        overlong = False
        while True:
            chunk = fh.readline(MAX_RECORD_BYTES + 1)
            if not chunk:
                break
            if not chunk.endswith(b"\n") and len(chunk) > MAX_RECORD_BYTES:
                # Skip the rest of this physical line without holding it.
                while chunk and not chunk.endswith(b"\n"):
                    size += len(chunk)
                    chunk = fh.readline(MAX_RECORD_BYTES + 1)
                size += len(chunk)
                line_no += 1
                overlong = True
                break
            line_no += 1
            size += len(chunk)
            if not overlong:
                if size > MAX_RECORD_BYTES:
                    overlong = True
                    parts = []
                else:
                    parts.append(chunk)
            quotes += chunk.count(b'"')
            if quotes % 2 == 0:
                break
        if size == 0:
            return
        yield _Record(start_line, None if overlong else b"".join(parts), size)


def _sniff_encoding(sample: bytes) -> tuple[str, bool]:
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFormatError(
            "unsupported_encoding",
            "UTF-16 のCSVは読み込めません。UTF-8 または Shift_JIS で保存してください",
        )
    if sample.startswith(_UTF8_BOM):
        return "utf-8-sig", False
    if sample.isascii():
        return "utf-8", True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8", False
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("cp932")().decode(sample, final=False)
        return "cp932", False
    except UnicodeDecodeError:
        raise ImportFormatError(
            "unknown_encoding",
            "CSVの文字コードを判別できません。UTF-8 または Shift_JIS で保存してください",
        ) from None


def _decode(raw: bytes, layout: CsvLayout) -> str | None:
    encoding = "utf-8" if layout.encoding == "utf-8-sig" else layout.encoding
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        if layout.ascii_sample:
            try:
                return raw.decode("cp932")
            except UnicodeDecodeError:
                return None
        return None


def _split(text_record: str) -> list[str]:
    return next(csv.reader((text_record,)), [])


def _header_name(cell: str) -> str:
    name = unicodedata.normalize("NFKC", cell).strip().lstrip("\ufeff").strip()
    lowered = name.lower()
    if lowered in COLUMNS:
        return lowered
    return HEADER_ALIASES.get(name, HEADER_ALIASES.get(lowered, ""))


def inspect(path: Path) -> CsvLayout:
    """Read the header and detect the encoding; raises :class:`ImportFormatError` (missing
    columns, unknown encoding, an empty file …) before anything is written."""
    with open(path, "rb") as fh:
        sample = fh.read(SNIFF_BYTES)
        encoding, ascii_sample = _sniff_encoding(sample)
        fh.seek(len(_UTF8_BOM) if encoding == "utf-8-sig" else 0)
        first = next(_records(fh), None)
        if first is None:
            raise ImportFormatError("empty_csv", "CSVファイルが空です")
        data_offset = fh.tell()
    if first.raw is None:
        raise ImportFormatError("invalid_header", "CSVの1行目（見出し）が長すぎます")
    layout = CsvLayout(encoding, {}, 0, data_offset, ascii_sample=ascii_sample)
    layout.header_lines = first.raw.count(b"\n") or 1
    decoded = _decode(first.raw, layout)
    if decoded is None:
        raise ImportFormatError("unknown_encoding", "CSVの見出しの文字コードが正しくありません")
    cells = _split(decoded)
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        name = _header_name(cell)
        if not name:
            continue
        if name in columns:
            raise ImportFormatError(
                "duplicate_column", f"CSVの見出しに「{cell.strip()}」が2回あります"
            )
        columns[name] = index
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        expected = ",".join(COLUMNS[:10])
        raise ImportFormatError(
            "missing_columns",
            f"CSVの見出しに必須の列がありません：{', '.join(missing)}（見出しは {expected}）",
            details={"missing": missing, "expected": list(COLUMNS[:10])},
        )
    layout.columns = columns
    layout.header_width = len(cells)
    return layout


# --- rows ------------------------------------------------------------------------------------


class _Reject(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _number(name: str, label: str, value: str, *, suffixes: tuple[str, ...] = ()) -> int | None:
    if value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)  # the common case, without normalizing
    text_value = unicodedata.normalize("NFKC", value).strip().replace(",", "")
    for suffix in suffixes:
        text_value = text_value.removesuffix(suffix)
    if not text_value:
        return None
    if not _NUMBER.fullmatch(text_value):
        raise _Reject(f"invalid_{name}", f"{label}が数値ではありません（{value[:30]}）")
    return int(text_value)


def _url_and_domain(value: str) -> tuple[str, str | None]:
    original = value.strip()
    if not original:
        return "", None
    bad = _Reject("invalid_url", f"URLが正しくありません（{original[:60]}）")
    url = original
    if not _URL_SCHEME.match(url):
        host_part = url.split("/", 1)[0]
        if ":" in host_part and not re.fullmatch(r"[^:]+:\d{1,5}", host_part):
            raise bad  # mailto:, javascript: …
        url = "http://" + url
    elif not url.lower().startswith(("http://", "https://")):
        raise _Reject(
            "invalid_url", f"URLは http または https で指定してください（{original[:60]}）"
        )
    domain = normalize_domain(url)
    if domain is None:
        raise bad
    return url, domain


def parse_row(cells: list[str], layout: CsvLayout, founded_max: int) -> dict[str, Any]:
    """One CSV record → the column values of a prospect, or :class:`_Reject`."""
    if len(cells) > layout.header_width and any(c.strip() for c in cells[layout.header_width :]):
        raise _Reject("too_many_columns", "列の数が見出しより多くなっています")

    width = len(cells)

    def cell(name: str) -> str:
        index = layout.columns.get(name)
        if index is None or index >= width:
            return ""
        return cells[index].strip()

    values: dict[str, Any] = {}
    for name, limit in _MAX_LENGTH.items():
        value = cell(name)
        if len(value) > limit:
            raise _Reject("too_long", f"{name} が長すぎます（{limit}文字まで）")
        values[name] = value
    if not values["company"]:
        raise _Reject("missing_company", "会社名（company）がありません")
    values["url"], values["domain"] = _url_and_domain(values["url"])
    prefecture = normalize_prefecture(cell("prefecture"))
    if prefecture is None:
        raise _Reject(
            "invalid_prefecture", f"都道府県が正しくありません（{cell('prefecture')[:20]}）"
        )
    values["prefecture"] = prefecture
    values["employees"] = _number("employees", "従業員数", cell("employees"), suffixes=("名", "人"))
    if values["employees"] is not None and values["employees"] > 2_000_000_000:
        raise _Reject("invalid_employees", "従業員数が大きすぎます")
    values["capital"] = _number("capital", "資本金", cell("capital"), suffixes=("円",))
    founded = _number("founded", "設立年", cell("founded"), suffixes=("年",))
    if founded is not None and not 1000 <= founded <= founded_max:
        raise _Reject("invalid_founded", f"設立年が正しくありません（{founded}）")
    values["founded"] = founded
    values["search_text"] = prospect_search_text(
        values["company"], values["company_kana"], values["industry"], values["city"]
    )
    values["fingerprint"] = prospect_fingerprint(
        values["domain"],
        values["company"],
        prefecture,
        values["city"],
        values["address"],
        values["phone"],
    )
    return values


# --- writing ---------------------------------------------------------------------------------


_INSERT_COLUMNS = (
    "id", "company", "company_kana", "url", "domain", "fingerprint", "industry", "prefecture",
    "city", "address", "phone", "employees", "capital", "founded", "tags", "search_text",
    "created_at",
)  # fmt: skip


def _identity(row: dict[str, Any]) -> str:
    """The unique key of a row: its domain, or the fingerprint of a row without a URL."""
    return row["domain"] if row["domain"] is not None else "#" + row["fingerprint"]


def _grams_of(rows: list[dict[str, Any]], inserted: set[int]) -> list[tuple[str, int]]:
    pairs = [
        (gram, row["id"])
        for row in rows
        if row["id"] in inserted
        for gram in prospect_grams(row["search_text"])
    ]
    pairs.sort()  # index order: each page of the keyword index is touched once per batch
    return pairs


def _insert_sqlite(db: Session, rows: list[dict[str, Any]], job_id: int) -> list[dict[str, Any]]:
    # Take the write lock first: SQLite has one writer, so while this transaction lasts the
    # existing domains and the highest id stay as read here, and the ids below are ours.
    db.execute(update(ImportJob).where(ImportJob.id == job_id).values(status=ImportJob.status))
    domains = [row["domain"] for row in rows if row["domain"] is not None]
    prints = [row["fingerprint"] for row in rows if row["domain"] is None]
    existing: set[str] = set()
    for column, keys, prefix in (
        (Prospect.domain, domains, ""),
        (Prospect.fingerprint, prints, "#"),
    ):
        for start in range(0, len(keys), 10_000):
            chunk = keys[start : start + 10_000]
            found = db.scalars(select(column).where(column.in_(chunk)))
            existing.update(prefix + key for key in found)
    fresh = [row for row in rows if _identity(row) not in existing]
    if not fresh:
        return []
    next_id = int(db.execute(select(func.coalesce(func.max(Prospect.id), 0))).scalar_one()) + 1
    for offset, row in enumerate(fresh):
        row["id"] = next_id + offset
    # Plain DB-API executemany with tuples: the ORM's bulk path costs more than SQLite itself.
    conn = db.connection()
    # A bigger page cache keeps the index B-trees of a million rows in memory while importing.
    conn.exec_driver_sql("PRAGMA cache_size=-131072")
    marks = ", ".join("?" for _ in _INSERT_COLUMNS)
    created = fresh[0]["created_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    conn.exec_driver_sql(
        f"INSERT INTO prospects ({', '.join(_INSERT_COLUMNS)}) VALUES ({marks})",
        [
            tuple(created if name == "created_at" else row[name] for name in _INSERT_COLUMNS)
            for row in fresh
        ],
    )
    pairs = _grams_of(fresh, {row["id"] for row in fresh})
    if pairs:
        conn.exec_driver_sql("INSERT INTO prospect_grams (gram, prospect_id) VALUES (?, ?)", pairs)
    return fresh


def _insert_postgresql(
    db: Session, rows: list[dict[str, Any]], job_id: int
) -> list[dict[str, Any]]:
    # Ids first (the keyword index needs them), then COPY into a transaction-local table and
    # one INSERT … SELECT: several times faster than multi-row INSERTs, and ON CONFLICT still
    # settles a race with a concurrent import of the same domain.
    ids = (
        db.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('prospects', 'id')) FROM generate_series(1, :n)"
            ),
            {"n": len(rows)},
        )
        .scalars()
        .all()
    )
    for row, new_id in zip(rows, ids, strict=True):
        row["id"] = int(new_id)
    columns = ", ".join(_INSERT_COLUMNS)
    db.execute(
        text(
            "CREATE TEMP TABLE IF NOT EXISTS prospect_import_batch "
            "(LIKE prospects INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
    )
    raw: Any = db.connection().connection.driver_connection  # the psycopg connection
    copy_sql = f"COPY prospect_import_batch ({columns}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for row in rows:
            copy.write_row(tuple(row[name] for name in _INSERT_COLUMNS))
    inserted = set(
        db.execute(
            text(
                f"INSERT INTO prospects ({columns}) SELECT {columns} FROM prospect_import_batch "
                "ON CONFLICT DO NOTHING RETURNING id"
            )
        ).scalars()
    )
    db.execute(text("DELETE FROM prospect_import_batch"))
    pairs = _grams_of(rows, inserted)
    if pairs:
        with (
            raw.cursor() as cursor,
            cursor.copy("COPY prospect_grams (gram, prospect_id) FROM STDIN") as copy,
        ):
            for pair in pairs:
                copy.write_row(pair)
    return [row for row in rows if row["id"] in inserted]


def _write_batch(
    db: Session, rows: list[dict[str, Any]], now: datetime, job_id: int
) -> tuple[int, int]:
    """Insert ``rows`` with their keyword index, skipping the domains (and, for rows without a
    URL, the fingerprints) already present or repeated; → (imported, duplicates)."""
    seen: set[str] = set()
    unique: list[dict[str, Any]] = []
    for row in rows:
        key = _identity(row)
        if key in seen:
            continue
        seen.add(key)
        row["created_at"] = now
        unique.append(row)
    if not unique:
        return 0, len(rows)
    if db.get_bind().dialect.name == "postgresql":
        inserted = _insert_postgresql(db, unique, job_id)
    else:
        inserted = _insert_sqlite(db, unique, job_id)
    return len(inserted), len(rows) - len(inserted)


def create_job(db: Session, *, filename: str, created_by: int | None) -> ImportJob:
    job = ImportJob(
        filename=filename[:300],
        status="running",
        report=[],
        created_by=created_by,
        progress_at=clock.now(),
    )
    db.add(job)
    db.flush()
    return job


def _save_progress(db: Session, progress: ImportProgress, *, finished: bool = False) -> None:
    job = db.get(ImportJob, progress.job_id)
    if job is None:
        raise RuntimeError(f"import job {progress.job_id} vanished")
    job.rows_total = progress.rows_total
    job.rows_imported = progress.imported
    job.rows_duplicate = progress.duplicates
    job.rows_rejected = progress.rejected
    job.report = list(progress.report)
    job.status = progress.status
    job.progress_at = clock.now()
    if finished:
        job.finished_at = clock.now()
    db.flush()


def fail_interrupted(db: Session, now: datetime) -> int:
    """Mark failed the running jobs whose progress has not moved for :data:`STALE_AFTER`.

    An import runs in the process that took the upload; a restart of that process cuts it off
    and nothing else would ever finish the job. What committed stays imported (the job keeps
    its counts); importing the same file again counts those rows as duplicates.
    """
    stale = db.scalars(
        select(ImportJob)
        .where(ImportJob.status == "running")
        .where(func.coalesce(ImportJob.progress_at, ImportJob.created_at) < now - STALE_AFTER)
        .with_for_update(skip_locked=True)
    ).all()
    minutes = int(STALE_AFTER.total_seconds() // 60)
    for job in stale:
        job.status = "failed"
        job.finished_at = now
        job.report = [
            *(job.report or []),
            {
                "line": None,
                "code": "interrupted",
                "reason": f"取り込みが中断されました（{minutes}分以上進んでいません）。"
                "同じファイルをもう一度取り込むと、取り込み済みの行は重複として数えられます",
            },
        ]
    db.flush()
    return len(stale)


def _snapshot(progress: ImportProgress) -> ImportProgress:
    return replace(progress, report=list(progress.report))


def _reject(progress: ImportProgress, line: int, code: str, reason: str) -> None:
    progress.rejected += 1
    if len(progress.report) < MAX_REPORT_ENTRIES:
        progress.report.append({"line": line, "code": code, "reason": reason})


def _analyze(sessions: SessionOpener) -> None:
    # Fresh statistics let both planners pick the search indexes after a big import; on
    # PostgreSQL a VACUUM also sets the visibility map, so counts can run on the indexes alone.
    with sessions() as db:
        bind = db.get_bind()
        if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
            with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM (ANALYZE) prospects"))
                conn.execute(text("VACUUM (ANALYZE) prospect_grams"))
            return
        db.execute(text("ANALYZE prospects"))
        db.execute(text("ANALYZE prospect_grams"))


def run_import(
    path: Path,
    job_id: int,
    *,
    sessions: SessionOpener,
    batch_size: int = BATCH_SIZE,
    on_progress: ProgressFn | None = None,
    analyze: bool = True,
) -> ImportProgress:
    """Import ``path`` into the prospect list as import job ``job_id``.

    Each call of ``sessions()`` is one transaction committed on exit: one per batch, together
    with the job's counters. A fatal error leaves the committed batches and marks the job
    failed with the reason; the batch in progress is rolled back.
    """
    progress = ImportProgress(job_id=job_id, bytes_total=os.path.getsize(path))
    landed = _snapshot(progress)
    try:
        layout = inspect(path)
        founded_max = clock.now().year + 1
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            nonlocal landed
            with sessions() as db:
                imported, duplicates = _write_batch(db, batch, clock.now(), job_id)
                progress.imported += imported
                progress.duplicates += duplicates
                _save_progress(db, progress)
            landed = _snapshot(progress)
            batch.clear()
            if on_progress is not None:
                on_progress(progress)

        with open(path, "rb") as fh:
            fh.seek(layout.data_offset)
            for record in _records(fh, layout.header_lines):
                progress.bytes_read += record.size
                if record.raw is None:
                    progress.rows_total += 1
                    _reject(
                        progress,
                        record.line,
                        "line_too_long",
                        f"1行が大きすぎます（{record.size:,}バイト、上限{MAX_RECORD_BYTES:,}バイト）",
                    )
                    continue
                if not record.raw.strip():
                    continue
                progress.rows_total += 1
                decoded = _decode(record.raw, layout)
                if decoded is None:
                    _reject(
                        progress, record.line, "invalid_encoding", "文字コードが正しくありません"
                    )
                    continue
                try:
                    cells = _split(decoded)
                    batch.append(parse_row(cells, layout, founded_max))
                except _Reject as exc:
                    _reject(progress, record.line, exc.code, exc.reason)
                except csv.Error as exc:
                    _reject(progress, record.line, "invalid_csv", f"CSVとして読めません（{exc}）")
                if len(batch) >= batch_size:
                    flush()
        flush()
        progress.status = "done"
        with sessions() as db:
            _save_progress(db, progress, finished=True)
    except Exception as exc:
        # The job keeps the counts of what committed; the batch in progress did not land.
        progress = _snapshot(landed)
        progress.status = "failed"
        progress.error = (
            exc.message if isinstance(exc, AppError) else f"{type(exc).__name__}: {exc}"
        )
        progress.report.append(
            {"line": None, "code": getattr(exc, "code", "fatal"), "reason": progress.error}
        )
        with sessions() as db:
            _save_progress(db, progress, finished=True)
        if on_progress is not None:
            on_progress(progress)
        if not isinstance(exc, AppError):
            raise
        return progress
    if on_progress is not None:
        on_progress(progress)
    if analyze and progress.imported:
        _analyze(sessions)
    return progress
