"""The 法人番号 registry as a second prospect import: the National Tax Agency's full-data and
change files (docs/rules.md#the-corporate-number-registry).

The file is the published CSV layout: no header, 30 columns per row (sequenceNumber,
corporateNumber, process, correct, updateDate, changeDate, name, nameImageId, kind,
prefectureName, cityName, streetNumber, addressImageId, prefectureCode, cityCode, postCode,
addressOutside, addressOutsideImageId, closeDate, closeCause, successorCorporateNumber,
changeCause, assignmentDate, latest, enName, enPrefectureName, enCityName, enAddressOutside,
furigana, hihyoji), Shift_JIS or Unicode (UTF-8, with or without BOM), plain or zipped as
downloaded. It is read as a stream (memory stays flat) and written a batch per transaction.

The corporate number is the identity: a corporation already in the list is updated in place
(name, furigana, address; its URL, industry and employees, which come from prospects CSVs, are
kept), never added twice. A row older than what the list holds (its updateDate) changes
nothing, so files may be applied again or out of order. Closed corporations (a closeDate, or
the process codes of closure, merger, erasure or deletion) are kept with ``closed_at`` and are
never queued; a restoration (22, 72) opens them again.

Resumable: each batch commits with the number of records it has consumed
(``ImportJob.resume_offset``); importing the same file again after a kill continues the
unfinished job from its last committed batch (:func:`start_job`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import multiprocessing
import os
import queue
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.errors import AppError
from coordinator.prospects import importer
from coordinator.prospects.import_reading import ImportFormatError, sniff_encoding
from coordinator.prospects.import_writing import (
    insert_rows,
    lock_for_writing,
    rows_by_number,
    update_rows,
)
from coordinator.prospects.importer import (
    ImportProgress,
    ProgressFn,
    SessionOpener,
    analyze_tables,
    end_failed,
    reject,
    save_progress,
    snapshot,
)
from coordinator.prospects.regions import normalize_prefecture
from shared import clock
from shared.enums import ImportStatus
from shared.models import ImportJob, Prospect, prospect_search_text

KIND = "registry"
WIDTH = 30
(
    SEQUENCE, NUMBER, PROCESS, CORRECT, UPDATE_DATE, CHANGE_DATE, NAME, _NAME_IMAGE, CORP_KIND,
    PREFECTURE, CITY, STREET, _ADDRESS_IMAGE, PREFECTURE_CODE, CITY_CODE, POST_CODE,
    ADDRESS_OUTSIDE, _OUTSIDE_IMAGE, CLOSE_DATE, CLOSE_CAUSE, SUCCESSOR, CHANGE_CAUSE,
    ASSIGNMENT_DATE, LATEST, EN_NAME, EN_PREFECTURE, EN_CITY, EN_OUTSIDE, FURIGANA, HIHYOJI,
) = range(WIDTH)  # fmt: skip
PROCESSES = {
    "01": "新規", "11": "商号又は名称の変更", "12": "国内所在地の変更", "13": "国外所在地の変更",
    "21": "登記記録の閉鎖等", "22": "登記記録の閉鎖等の取消し又は復活", "71": "吸収合併",
    "72": "吸収合併無効", "81": "商号の登録の抹消", "99": "削除",
}  # fmt: skip
CLOSING = frozenset({"21", "71", "81", "99"})  # the corporation is gone: kept, never queued
BATCH_SIZE = 10_000
# The columns a registry row sets; the others (URL, industry, employees …) come from CSVs.
_REGISTRY_COLUMNS = (
    "company", "company_kana", "prefecture", "city", "address", "closed_at", "registry_updated",
)  # fmt: skip
_NOT_REGISTRY = (
    "法人番号の全件データ・差分データのCSVではありません（見出しのない30列、2列目が13桁の"
    "法人番号の形式です）。"
)


def _format_error(detail: str) -> ImportFormatError:
    return ImportFormatError("not_registry_csv", _NOT_REGISTRY + detail)


# --- reading ---------------------------------------------------------------------------------


@contextmanager
def open_registry(path: Path) -> Iterator[tuple[IO[bytes], IO[bytes]]]:
    """→ (the CSV's bytes, the file on disk): a zip's CSV member is read as it decompresses,
    and the position in the file on disk is the progress."""
    with open(path, "rb") as disk:
        if not zipfile.is_zipfile(disk):
            disk.seek(0)
            yield disk, disk
            return
        disk.seek(0)
        with zipfile.ZipFile(disk) as archive:
            members = [m for m in archive.infolist() if m.filename.lower().endswith(".csv")]
            if not members:
                raise _format_error("ZIPの中にCSVファイルがありません")
            with archive.open(members[0]) as member:
                yield member, disk


def _text(stream: IO[bytes]) -> tuple[io.TextIOWrapper, str]:
    buffered = io.BufferedReader(cast(Any, stream), buffer_size=1 << 20)
    sample = buffered.peek(1 << 20)[: 1 << 20]
    try:
        encoding, _ = sniff_encoding(sample)
    except AppError as exc:
        raise _format_error(exc.message) from None
    # A character the encoding cannot read becomes U+FFFD: that row is rejected, not the file.
    return io.TextIOWrapper(buffered, encoding=encoding, errors="replace", newline=""), encoding


def _check_first(cells: list[str]) -> None:
    if not cells:
        raise ImportFormatError("empty_csv", "CSVファイルが空です")
    first = [cell.strip().lstrip("\ufeff").lower() for cell in cells]
    if "company" in first or "会社名" in first:
        raise _format_error("見込客のCSVは mikomi prospects import で取り込んでください")
    if len(cells) < WIDTH - 2:
        raise _format_error(f"1行目の列が{len(cells)}列です")
    if not (cells[NUMBER].isascii() and cells[NUMBER].isdigit() and len(cells[NUMBER]) == 13):
        raise _format_error(f"1行目の2列目が法人番号ではありません（{cells[NUMBER][:20]}）")


def source_key(path: Path) -> str:
    """What identifies a file for resuming: its size and a digest of its first and last
    megabyte (the same download gives the same key)."""
    size = os.path.getsize(path)
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        digest.update(fh.read(1 << 20))
        fh.seek(max(0, size - (1 << 20)))
        digest.update(fh.read(1 << 20))
    return f"{size}:{digest.hexdigest()}"


def inspect(path: Path) -> None:
    """Raise :class:`ImportFormatError` (in Japanese) unless ``path`` is a registry CSV (or a
    zip of one); nothing is written."""
    try:
        with open_registry(path) as (stream, _disk):
            text_stream, _ = _text(stream)
            _check_first(next(csv.reader(text_stream), []))
    except zipfile.BadZipFile as exc:
        raise _format_error(f"ZIPファイルが壊れています（{exc}）") from None
    except (csv.Error, UnicodeError) as exc:
        raise _format_error(f"CSVとして読めません（{exc}）") from None


# --- parsing ---------------------------------------------------------------------------------


class _Rejected(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _date(value: str, label: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _Rejected("invalid_date", f"{label}が日付ではありません（{value[:20]}）") from None


def parse(cells: list[str]) -> dict[str, Any] | None:
    """One registry record → the columns of a prospect (None: a past-history row, latest=0)."""
    if len(cells) < WIDTH - 2:
        raise _Rejected("too_few_columns", f"列が足りません（{len(cells)}列）")
    if "\ufffd" in "".join(cells):
        raise _Rejected("invalid_encoding", "文字コードが正しくありません")
    number = cells[NUMBER].strip()
    if not (number.isascii() and number.isdigit() and len(number) == 13):
        raise _Rejected("invalid_corporate_number", f"法人番号が正しくありません（{number[:20]}）")
    process = cells[PROCESS].strip()
    if process not in PROCESSES:
        raise _Rejected("invalid_process", f"処理区分が正しくありません（{process[:10]}）")
    if len(cells) > LATEST and cells[LATEST].strip() == "0":
        return None
    name = cells[NAME].strip()
    if not name:
        raise _Rejected("missing_company", "商号又は名称がありません")
    updated = _date(cells[UPDATE_DATE], "更新年月日")
    closed = _date(cells[CLOSE_DATE], "登記記録の閉鎖等年月日")
    if closed is None and process in CLOSING:
        closed = _date(cells[CHANGE_DATE], "変更年月日") or updated
    prefecture_name = cells[PREFECTURE].strip()
    prefecture = normalize_prefecture(prefecture_name) if prefecture_name else ""
    outside = cells[ADDRESS_OUTSIDE].strip()
    kana = cells[FURIGANA].strip() if len(cells) > FURIGANA else ""
    city = cells[CITY].strip()[:100]
    company = name[:300]
    return {
        "corporate_number": number,
        "company": company,
        "company_kana": kana[:300],
        "prefecture": prefecture or "",
        "city": city,
        "address": (cells[STREET].strip() or outside)[:300],
        "closed_at": closed,
        "registry_updated": updated,
        "search_text": prospect_search_text(company, kana, "", city),
        "url": "", "domain": None, "fingerprint": None, "industry": "", "phone": "",
        "employees": None, "capital": None, "founded": None, "tags": "",
    }  # fmt: skip


# --- writing ---------------------------------------------------------------------------------


def write_batch(db: Session, rows: list[dict[str, Any]], job_id: int) -> tuple[int, int, int]:
    """Apply registry rows: new corporations are added, known ones updated in place (unless
    the list holds a newer update); → (added, updated, unchanged)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:  # the file's order: a later row of the same corporation wins
        latest[row["corporate_number"]] = row
    lock_for_writing(db, job_id)
    columns = [getattr(Prospect, name) for name in _REGISTRY_COLUMNS] + [Prospect.industry]
    existing = rows_by_number(db, latest, *columns)
    fresh: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    now = clock.now()
    for number, row in latest.items():
        known = existing.get(number)
        if known is None:
            row["created_at"] = now
            fresh.append(row)
            continue
        pid, *current, industry = known
        stored = dict(zip(_REGISTRY_COLUMNS, current, strict=True))
        older = stored["registry_updated"] and row["registry_updated"]
        if older and row["registry_updated"] < stored["registry_updated"]:
            continue  # an older file: what the list holds is newer
        if all(stored[name] == row[name] for name in _REGISTRY_COLUMNS):
            continue
        row["id"] = pid
        row["search_text"] = prospect_search_text(
            row["company"], row["company_kana"], industry, row["city"]
        )
        changed.append(row)
    inserted = insert_rows(db, fresh, job_id) if fresh else []
    update_rows(db, changed, _REGISTRY_COLUMNS)
    added = len(inserted)
    return added, len(changed), len(rows) - added - len(changed)


# --- the job ---------------------------------------------------------------------------------


def start_job(db: Session, path: Path, *, filename: str, created_by: int | None) -> ImportJob:
    """The unfinished registry job of this same file (to resume), or a new one."""
    key = source_key(path)
    job = db.scalars(
        select(ImportJob)
        .where(ImportJob.kind == KIND, ImportJob.source_key == key)
        .where(ImportJob.status != ImportStatus.DONE)
        .order_by(ImportJob.id.desc())
        .limit(1)
    ).first()
    if job is None:
        job = importer.create_job(db, filename=filename, created_by=created_by)
        job.kind, job.source_key = KIND, key
    job.status = ImportStatus.RUNNING
    job.finished_at = None
    job.progress_at = clock.now()
    db.flush()
    return job


@dataclass
class Chunk:
    """One batch of parsed records, with what reading them found: the rejected records
    (line, code, reason), the past-history rows skipped, the records counted, the last
    record consumed and the position in the file on disk."""

    rows: list[dict[str, Any]]
    rejected: list[tuple[int, str, str]]
    history: int
    counted: int
    consumed: int
    position: int


def chunks(path: Path, skip: int, batch_size: int) -> Iterator[Chunk]:
    """The file's records after the first ``skip``, parsed, a batch at a time."""
    with open_registry(path) as (stream, disk):
        text_stream, _ = _text(stream)
        chunk = Chunk([], [], 0, 0, skip, 0)
        for line, cells in enumerate(csv.reader(text_stream), start=1):
            if line <= skip:
                continue
            chunk.consumed = line
            if not cells or not any(cells):
                continue
            chunk.counted += 1
            try:
                row = parse(cells)
            except _Rejected as exc:
                chunk.rejected.append((line, exc.code, exc.reason))
                continue
            if row is None:
                chunk.history += 1  # a past state of a corporation (latest=0)
                continue
            chunk.rows.append(row)
            if len(chunk.rows) >= batch_size:
                chunk.position = disk.tell()
                yield chunk
                chunk = Chunk([], [], 0, 0, line, 0)
        chunk.position = disk.tell()
        yield chunk


def _parse_in_child(path: str, skip: int, batch_size: int, out: Any) -> None:
    """The reading process of a parallel import: its chunks into ``out``, then None (or the
    error: ``("error", code, message)``)."""
    parent = multiprocessing.parent_process()

    def put(item: Any) -> None:
        while True:  # the importing process may be gone (killed): then stop with it
            try:
                out.put(item, timeout=1)
                return
            except queue.Full:
                if parent is None or not parent.is_alive():
                    raise SystemExit(1) from None

    try:
        for chunk in chunks(Path(path), skip, batch_size):
            put(chunk)
        put(None)
    except AppError as exc:
        put(("error", exc.code, exc.message))
    except Exception as exc:
        put(("error", "fatal", f"{type(exc).__name__}: {exc}"))


@contextmanager
def _chunks_from_child(path: Path, skip: int, batch_size: int) -> Iterator[Iterator[Chunk]]:
    """:func:`chunks` read and parsed by another process (the import's second core) while
    this one writes; at most two batches wait between them, so memory stays flat."""
    context = multiprocessing.get_context("spawn")
    waiting: Any = context.Queue(maxsize=2)
    child = context.Process(
        target=_parse_in_child, args=(str(path), skip, batch_size, waiting), daemon=True
    )
    child.start()

    def received() -> Iterator[Chunk]:
        while True:
            try:
                item = waiting.get(timeout=1)
            except queue.Empty:
                if child.is_alive():
                    continue
                # Gone without its last word (killed, out of memory): the batches written so far
                # stay, and the job resumes after them.
                raise AppError(
                    "registry_reader_died",
                    f"ファイルを読むプロセスが終了しました（終了コード {child.exitcode}）。"
                    "再開すると続きから取り込みます",
                ) from None
            if item is None:
                return
            if isinstance(item, tuple):
                raise AppError(item[1], item[2])
            yield item

    try:
        yield received()
    finally:
        if child.is_alive():
            child.terminate()
        child.join(timeout=10)


PARALLEL_FROM_BYTES = 2_000_000  # smaller files are parsed in the importing process


def run_import(
    path: Path,
    job_id: int,
    *,
    sessions: SessionOpener,
    batch_size: int = BATCH_SIZE,
    on_progress: ProgressFn | None = None,
    analyze: bool = True,
    parallel: bool | None = None,
) -> ImportProgress:
    """Import the registry file ``path`` as import job ``job_id`` (the shape of
    :func:`coordinator.prospects.importer.run_import`): one transaction per batch with the
    job's counters and its resume point; a job that had committed batches continues after
    them. ``imported`` counts the corporations added or changed, ``duplicates`` those already
    as in the file. With ``parallel`` (by default for files from
    :data:`PARALLEL_FROM_BYTES`) another process reads and parses while this one writes."""
    progress = ImportProgress(job_id=job_id, bytes_total=os.path.getsize(path))
    with sessions() as db:
        job = db.get(ImportJob, job_id)
        if job is None:
            raise RuntimeError(f"import job {job_id} vanished")
        skip = job.resume_offset
        progress.rows_total, progress.imported = job.rows_total, job.rows_imported
        progress.duplicates, progress.rejected = job.rows_duplicate, job.rows_rejected
        progress.report = [e for e in job.report or [] if e.get("line") is not None]
    landed = snapshot(progress)
    if parallel is None:
        parallel = progress.bytes_total >= PARALLEL_FROM_BYTES
    try:
        inspect(path)
        with (
            _chunks_from_child(path, skip, batch_size)
            if parallel
            else nullcontext(chunks(path, skip, batch_size))
        ) as parsed:
            for chunk in parsed:
                progress.rows_total += chunk.counted
                progress.duplicates += chunk.history
                for line, code, reason in chunk.rejected:
                    reject(progress, line, code, reason)
                with sessions() as db:
                    added, changed, same = (
                        write_batch(db, chunk.rows, job_id) if chunk.rows else (0, 0, 0)
                    )
                    progress.imported += added + changed
                    progress.duplicates += same
                    save_progress(db, progress)
                    job = db.get(ImportJob, job_id)
                    assert job is not None
                    job.resume_offset = chunk.consumed
                landed = snapshot(progress)
                progress.bytes_read = chunk.position
                if on_progress is not None:
                    on_progress(progress)
        progress.status = ImportStatus.DONE
        with sessions() as db:
            save_progress(db, progress, finished=True)
    except Exception as exc:
        progress = end_failed(exc, landed, sessions, on_progress)
        if not isinstance(exc, AppError):
            raise
        return progress
    progress.bytes_read = progress.bytes_total
    if on_progress is not None:
        on_progress(progress)
    if analyze and progress.imported:
        analyze_tables(sessions)
    return progress


__all__ = ["KIND", "inspect", "parse", "run_import", "source_key", "start_job", "write_batch"]
