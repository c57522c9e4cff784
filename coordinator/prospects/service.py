"""The prospect list: search with its list URL, CSV export, and CSV imports as jobs
(run by import workers: ``coordinator/prospects/import_jobs.py``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from sqlalchemy.orm import Session

from coordinator import csv_export
from coordinator.accounts.service import Principal
from coordinator.errors import NotFound
from coordinator.prospects import import_jobs, import_reading, importer, repository, search
from coordinator.prospects.schemas import ImportJobOut, ProspectOut, ProspectPage
from formfill import PREFECTURES
from shared import clock
from shared.config import get_settings
from shared.db import after_commit
from shared.models import ImportJob

log = logging.getLogger(__name__)

ImportRunner = Callable[[Path, int], None]

# The export header is Japanese (the member opens it in Excel); the importer accepts these names
# too, so an exported file can be imported again.
EXPORT_HEADER = (
    "会社名", "会社名カナ", "URL", "業種", "都道府県", "市区町村", "住所", "電話番号",
    "従業員数", "資本金", "設立年", "見込客ID",
)  # fmt: skip


def list_url(q: search.ProspectQuery) -> str:
    """The リストURL of a search: the prospect list page with the search's query string."""
    base = get_settings().public_base_url.rstrip("/")
    query = search.to_query_string(q.without_paging())
    return f"{base}/prospects" + (f"?{query}" if query else "")


def parse_query(pairs: Iterable[tuple[str, str]]) -> search.ProspectQuery:
    return search.parse_params(pairs)


def search_page(db: Session, principal: Principal, q: search.ProspectQuery) -> ProspectPage:
    total, rows = search.search(db, q, principal.member_id)
    return ProspectPage(
        total=total,
        items=[ProspectOut.model_validate(row) for row in rows],
        list_url=list_url(q),
        query=search.to_query_string(q.without_paging()),
        page=q.page,
        per_page=q.per_page,
        pages=max(1, -(-total // q.per_page)),
    )


def export_filename() -> str:
    return f"prospects-{clock.now():%Y%m%d-%H%M%S}.csv"


def export_csv(db: Session, principal: Principal, q: search.ProspectQuery) -> Iterator[bytes]:
    """The current results as CSV bytes, streamed (coordinator/csv_export.py)."""
    return csv_export.stream(EXPORT_HEADER, repository.iter_export_rows(db, q, principal.member_id))


# --- imports ---------------------------------------------------------------------------------


def import_dir() -> Path:
    path = get_settings().var_dir / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def start_import(
    db: Session, principal: Principal, path: Path, filename: str, runner: ImportRunner
) -> ImportJob:
    """Check the file's header and encoding (raising before anything is written), record the
    job, and hand the file to ``runner`` once the job row is committed (in production
    ``import_jobs.hand_off``: the file to the store, the job to an import worker)."""
    try:
        import_reading.inspect(path)
    except Exception:
        path.unlink(missing_ok=True)
        raise
    job = importer.create_job(db, filename=filename, created_by=principal.user_id)
    job_id = job.id
    after_commit(db, lambda: runner(path, job_id))
    return job


def import_workers_running() -> bool | None:
    """Whether an import worker is there to take uploads (None: unknown, Redis is down)."""
    return import_jobs.workers_running()


def get_import(db: Session, job_id: int) -> ImportJobOut:
    job = repository.get_import_job(db, job_id)
    if job is None:
        raise NotFound("取り込み")
    return ImportJobOut.model_validate(job)


def list_imports(db: Session, limit: int = 50) -> list[ImportJobOut]:
    return [ImportJobOut.model_validate(job) for job in repository.recent_import_jobs(db, limit)]


def search_choices(db: Session) -> tuple[list[str], list[str]]:
    """The choices of the search form's selects, as they occur in the list: 業種 in
    alphabetical order, 都道府県 north to south (unknown names last)."""

    def north_to_south(name: str) -> tuple[int, str]:
        try:
            return PREFECTURES.index(name), name
        except ValueError:
            return len(PREFECTURES), name

    industries, prefectures = repository.search_choices(db)
    return industries, sorted(prefectures, key=north_to_south)
