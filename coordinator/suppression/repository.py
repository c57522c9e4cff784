"""Queries of the suppression lists."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from shared.models import SendItem, Suppression

EVERY_LIST = -1  # list_entries' member_id for the global list and every NG list together


def list_entries(
    db: Session, member_id: int | None, *, contains: str = "", limit: int = 200, offset: int = 0
) -> tuple[int, list[Suppression]]:
    """The global list (``member_id`` None), one member's NG list, or all of them together
    (``EVERY_LIST``), newest first, with how many match."""
    where: list[ColumnElement[bool]] = []
    if member_id is None:
        where.append(Suppression.member_id.is_(None))
    elif member_id != EVERY_LIST:
        where.append(Suppression.member_id == member_id)
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


def get_entry(db: Session, entry_id: int) -> Suppression | None:
    return db.get(Suppression, entry_id)


def item_by_optout_token(db: Session, token: str) -> SendItem | None:
    return db.scalars(select(SendItem).where(SendItem.optout_token == token)).first()
