"""Prospect CSV import as a job: streamed, deduplicated, one transaction per batch.

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

This module runs the job (its progress, its report, its end); reading the file is
``import_reading``, parsing a record ``import_parsing``, writing a batch ``import_writing``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from coordinator.errors import AppError
from coordinator.prospects.import_parsing import RowRejected, parse_row
from coordinator.prospects.import_reading import (
    MAX_RECORD_BYTES,
    decode,
    inspect,
    records,
    split,
)
from coordinator.prospects.import_writing import write_batch
from shared import clock
from shared.enums import ImportStatus
from shared.models import ImportJob

SessionOpener = Callable[[], AbstractContextManager[Session]]
ProgressFn = Callable[["ImportProgress"], None]

BATCH_SIZE = 5_000
# A running import commits a batch every few seconds; this long without one means it is gone.
STALE_AFTER = timedelta(minutes=10)
MAX_REPORT_ENTRIES = 1_000


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
    status: str = ImportStatus.RUNNING
    error: str = ""


def create_job(db: Session, *, filename: str, created_by: int | None) -> ImportJob:
    job = ImportJob(
        filename=filename[:300],
        status=ImportStatus.RUNNING,
        report=[],
        created_by=created_by,
        progress_at=clock.now(),
    )
    db.add(job)
    db.flush()
    return job


def save_progress(db: Session, progress: ImportProgress, *, finished: bool = False) -> None:
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

    Its process died (an interrupted ``mikomi prospects import``, or an import job that
    ``import_jobs.resume_or_fail_interrupted`` could not resume) and nothing else would ever
    finish the job. What committed stays imported (the job keeps its counts); importing the
    same file again counts those rows as duplicates.
    """
    stale = db.scalars(
        select(ImportJob)
        .where(ImportJob.status == ImportStatus.RUNNING)
        .where(func.coalesce(ImportJob.progress_at, ImportJob.created_at) < now - STALE_AFTER)
        .with_for_update(skip_locked=True)
    ).all()
    minutes = int(STALE_AFTER.total_seconds() // 60)
    for job in stale:
        job.status = ImportStatus.FAILED
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


def snapshot(progress: ImportProgress) -> ImportProgress:
    return replace(progress, report=list(progress.report))


def reject(progress: ImportProgress, line: int, code: str, reason: str) -> None:
    progress.rejected += 1
    if len(progress.report) < MAX_REPORT_ENTRIES:
        progress.report.append({"line": line, "code": code, "reason": reason})


def analyze_tables(sessions: SessionOpener) -> None:
    # Fresh statistics let both planners pick the search indexes after a big import; on
    # PostgreSQL a VACUUM also sets the visibility map, so counts can run on the indexes alone.
    with sessions() as db:
        bind = db.get_bind()
        if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
            with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM (ANALYZE) prospects"))
                conn.execute(text("VACUUM (ANALYZE) prospect_keyword_blocks"))
            return
        db.execute(text("ANALYZE prospects"))


def end_failed(
    exc: Exception, landed: ImportProgress, sessions: SessionOpener, on_progress: ProgressFn | None
) -> ImportProgress:
    """The end of an import stopped by ``exc``: the job keeps the counts of what committed
    (``landed``; the batch in progress did not land), is marked failed with the reason, and
    the progress says so."""
    progress = snapshot(landed)
    progress.status = ImportStatus.FAILED
    progress.error = exc.message if isinstance(exc, AppError) else f"{type(exc).__name__}: {exc}"
    progress.report.append(
        {"line": None, "code": getattr(exc, "code", "fatal"), "reason": progress.error}
    )
    with sessions() as db:
        save_progress(db, progress, finished=True)
    if on_progress is not None:
        on_progress(progress)
    return progress


def run_import(
    path: Path,
    job_id: int,
    *,
    sessions: SessionOpener,
    batch_size: int = BATCH_SIZE,
    on_progress: ProgressFn | None = None,
    analyze: bool = True,
    resume: bool = False,
) -> ImportProgress:
    """Import ``path`` into the prospect list as import job ``job_id``.

    Each call of ``sessions()`` is one transaction committed on exit: one per batch, together
    with the job's counters. A fatal error leaves the committed batches and marks the job
    failed with the reason; the batch in progress is rolled back.

    With ``resume`` the job goes on where its last committed batch ended (its worker died):
    a batch commits with the job's ``rows_total``, so exactly the first ``rows_total``
    counted records of the file have landed; they are skipped and the counts carry on.
    """
    progress = ImportProgress(job_id=job_id, bytes_total=os.path.getsize(path))
    skip = 0
    if resume:
        with sessions() as db:
            job = db.get(ImportJob, job_id)
            if job is None:
                raise RuntimeError(f"import job {job_id} vanished")
            progress.rows_total = skip = job.rows_total
            progress.imported = job.rows_imported
            progress.duplicates = job.rows_duplicate
            progress.rejected = job.rows_rejected
            progress.report = list(job.report or [])
    landed = snapshot(progress)
    try:
        layout = inspect(path)
        founded_max = clock.now().year + 1
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            nonlocal landed
            with sessions() as db:
                imported, duplicates = write_batch(db, batch, clock.now(), job_id)
                progress.imported += imported
                progress.duplicates += duplicates
                save_progress(db, progress)
            landed = snapshot(progress)
            batch.clear()
            if on_progress is not None:
                on_progress(progress)

        with open(path, "rb") as fh:
            fh.seek(layout.data_offset)
            for record in records(fh, layout.header_lines):
                progress.bytes_read += record.size
                if skip:  # landed before the worker died (blank records were never counted)
                    skip -= record.raw is None or bool(record.raw.strip())
                    continue
                if record.raw is None:
                    progress.rows_total += 1
                    reject(
                        progress,
                        record.line,
                        "line_too_long",
                        f"1行が大きすぎます（{record.size:,}バイト、上限{MAX_RECORD_BYTES:,}バイト）",
                    )
                    continue
                if not record.raw.strip():
                    continue
                progress.rows_total += 1
                decoded = decode(record.raw, layout)
                if decoded is None:
                    reject(
                        progress, record.line, "invalid_encoding", "文字コードが正しくありません"
                    )
                    continue
                try:
                    cells = split(decoded)
                    batch.append(parse_row(cells, layout, founded_max))
                except RowRejected as exc:
                    reject(progress, record.line, exc.code, exc.reason)
                except csv.Error as exc:
                    reject(progress, record.line, "invalid_csv", f"CSVとして読めません（{exc}）")
                if len(batch) >= batch_size:
                    flush()
        flush()
        progress.status = ImportStatus.DONE
        with sessions() as db:
            save_progress(db, progress, finished=True)
    except Exception as exc:
        progress = end_failed(exc, landed, sessions, on_progress)
        if not isinstance(exc, AppError):
            raise
        return progress
    if on_progress is not None:
        on_progress(progress)
    if analyze and progress.imported:
        analyze_tables(sessions)
    return progress
