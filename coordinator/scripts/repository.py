"""Queries of scripts; deleted scripts stay (reservations keep pointing at them) but are hidden."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from shared.enums import RESERVATION_FINAL, ReservationStatus
from shared.models import Reservation, Script


def live(db: Session, member_id: int | None) -> Sequence[Script]:
    query = select(Script).where(Script.deleted_at.is_(None)).order_by(Script.id)
    if member_id is not None:
        query = query.where(Script.member_id == member_id)
    return db.scalars(query).all()


def live_one(db: Session, script_id: int) -> Script | None:
    return db.scalar(select(Script).where(Script.id == script_id, Script.deleted_at.is_(None)))


def any_one(db: Session, script_id: int) -> Script | None:
    """A script, hidden or not (a reservation keeps naming the script it was made with)."""
    return db.get(Script, script_id)


def open_reservations_using(db: Session, script_id: int) -> list[int]:
    final = [s.value for s in RESERVATION_FINAL]
    return _reservations_using(db, script_id, Reservation.status.not_in(final))


def sending_reservations_using(db: Session, script_id: int) -> list[int]:
    """Approved reservations (sending now) that send with the script."""
    return _reservations_using(
        db, script_id, Reservation.status == ReservationStatus.APPROVED.value
    )


def _reservations_using(db: Session, script_id: int, status: ColumnElement[bool]) -> list[int]:
    return list(
        db.scalars(
            select(Reservation.id)
            .where(Reservation.script_id == script_id, status)
            .order_by(Reservation.id)
        )
    )
