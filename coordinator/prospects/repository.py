"""Queries of the prospect list that are not searches (those live in ``search``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Row, and_, select
from sqlalchemy.orm import Session

from coordinator.prospects.search import ProspectQuery, conditions
from shared.db import may_idle
from shared.models import ImportJob, Prospect

EXPORT_COLUMNS = (
    Prospect.company,
    Prospect.company_kana,
    Prospect.url,
    Prospect.industry,
    Prospect.prefecture,
    Prospect.city,
    Prospect.address,
    Prospect.phone,
    Prospect.employees,
    Prospect.capital,
    Prospect.founded,
    Prospect.id,
)


def iter_export_rows(
    db: Session, q: ProspectQuery, member_id: int | None, *, batch: int = 2_000
) -> Iterator[Sequence[Row[Any]]]:
    """Every match of ``q`` (paging ignored) in id order, as plain rows, ``batch`` at a time.

    Keyset paging (id > last) keeps each query cheap however deep the export goes, and plain
    rows keep the session's identity map empty."""
    may_idle(db)  # the download waits on the client between batches
    where = conditions(q, member_id)
    last_id = 0
    while True:
        stmt = (
            select(*EXPORT_COLUMNS)
            .where(and_(Prospect.id > last_id, *where))
            .order_by(Prospect.id)
            .limit(batch)
        )
        rows: Sequence[Row[Any]] = db.execute(stmt).all()  # type: ignore[assignment]
        if not rows:
            return
        yield rows
        if len(rows) < batch:
            return
        last_id = rows[-1].id


def get_import_job(db: Session, job_id: int) -> ImportJob | None:
    return db.get(ImportJob, job_id)


def recent_import_jobs(db: Session, limit: int = 50) -> list[ImportJob]:
    return list(db.scalars(select(ImportJob).order_by(ImportJob.id.desc()).limit(limit)))


def search_choices(db: Session, limit: int = 200) -> tuple[list[str], list[str]]:
    """The 業種 and the 都道府県 that occur in the list, each in alphabetical order."""

    def distinct(column: Any) -> list[str]:
        query = select(column).where(column != "").distinct().order_by(column).limit(limit)
        return [str(v) for v in db.scalars(query)]

    return distinct(Prospect.industry), distinct(Prospect.prefecture)
