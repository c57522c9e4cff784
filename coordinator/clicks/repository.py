"""Queries of the tracked links and the click counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.models import Reservation, SendItem, TrackedLink


def link_by_token(db: Session, token: str) -> TrackedLink | None:
    return db.scalar(select(TrackedLink).where(TrackedLink.token == token))


def count_request(db: Session, link_id: int) -> None:
    db.execute(
        update(TrackedLink).where(TrackedLink.id == link_id).values(clicks=TrackedLink.clicks + 1)
    )


def mark_link_clicked(db: Session, link_id: int, now: datetime) -> None:
    db.execute(
        update(TrackedLink)
        .where(TrackedLink.id == link_id, TrackedLink.first_click_at.is_(None))
        .values(first_click_at=now)
    )


def mark_item_clicked(db: Session, item_id: int, reservation_id: int, now: datetime) -> bool:
    """The item's first human click: True only for the request that set it, which alone adds
    one to the reservation's ``clicks`` (two clicks at once cannot both count)."""
    marked = db.execute(
        update(SendItem)
        .where(SendItem.id == item_id, SendItem.first_click_at.is_(None))
        .values(first_click_at=now)
    )
    if getattr(marked, "rowcount", 0) != 1:
        return False
    db.execute(
        update(Reservation)
        .where(Reservation.id == reservation_id)
        .values(clicks=Reservation.clicks + 1)
    )
    return True
