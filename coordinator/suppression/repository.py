"""Queries of the suppression lists."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import SendItem, Suppression


def list_entries(
    db: Session, member_id: int | None, *, contains: str = "", limit: int = 200, offset: int = 0
) -> tuple[int, list[Suppression]]:
    """The global list (``member_id`` None) or one member's NG list, newest first."""
    scope = (
        Suppression.member_id.is_(None) if member_id is None else Suppression.member_id == member_id
    )
    where = [scope]
    if contains:
        where.append(Suppression.domain.contains(contains, autoescape=True))
    total = db.execute(select(func.count()).select_from(Suppression).where(*where)).scalar_one()
    rows = db.scalars(
        select(Suppression)
        .where(*where)
        .order_by(Suppression.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return int(total), list(rows)


def every_entry(db: Session, limit: int) -> list[Suppression]:
    return list(db.scalars(select(Suppression).order_by(Suppression.id.desc()).limit(limit)))


def get_entry(db: Session, entry_id: int) -> Suppression | None:
    return db.get(Suppression, entry_id)


def item_by_optout_token(db: Session, token: str) -> SendItem | None:
    return db.scalars(select(SendItem).where(SendItem.optout_token == token)).first()
