"""Queries of the fleet views."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.enums import ItemState, ReservationStatus
from shared.metrics import SERVICE_STATES
from shared.models import FleetWorker, Reservation, SendItem


def reasons_by_status(
    db: Session, *, reservation_id: int | None = None, since: datetime | None = None
) -> dict[str, dict[str, int]]:
    stmt = select(SendItem.state, SendItem.reason, func.count()).where(
        SendItem.state.in_(
            [
                ItemState.SENT.value,
                ItemState.FAILED.value,
                ItemState.SKIPPED.value,
                ItemState.IN_DOUBT.value,
            ]
        )
    )
    if reservation_id is not None:
        stmt = stmt.where(SendItem.reservation_id == reservation_id)
    if since is not None:
        stmt = stmt.where(SendItem.finished_at >= since)
    out: dict[str, dict[str, int]] = {}
    for state, reason, n in db.execute(stmt.group_by(SendItem.state, SendItem.reason)):
        out.setdefault(state, {})[reason or ""] = int(n)
    return out


def sent_since(db: Session, since: datetime, reservation_id: int | None = None) -> int:
    stmt = (
        select(func.count())
        .select_from(SendItem)
        .where(SendItem.state == ItemState.SENT.value, SendItem.finished_at >= since)
    )
    if reservation_id is not None:
        stmt = stmt.where(SendItem.reservation_id == reservation_id)
    return int(db.scalar(stmt) or 0)


def sent_times_since(
    db: Session, since: datetime, reservation_id: int | None = None
) -> list[datetime]:
    stmt = select(SendItem.finished_at).where(
        SendItem.state == ItemState.SENT.value, SendItem.finished_at >= since
    )
    if reservation_id is not None:
        stmt = stmt.where(SendItem.reservation_id == reservation_id)
    return [finished for (finished,) in db.execute(stmt) if finished is not None]


def sent_since_by_reservation(db: Session, since: datetime) -> dict[int, int]:
    rows = db.execute(
        select(SendItem.reservation_id, func.count())
        .where(SendItem.state == ItemState.SENT.value, SendItem.finished_at >= since)
        .group_by(SendItem.reservation_id)
    ).all()
    return {int(rid): int(n) for rid, n in rows}


def workers(db: Session) -> list[FleetWorker]:
    """The worker processes' heartbeats (not the dispatcher's or the sweeper's)."""
    return list(
        db.scalars(
            select(FleetWorker)
            .where(FleetWorker.state.not_in(SERVICE_STATES))
            .order_by(FleetWorker.started_at, FleetWorker.id)
        )
    )


def service_beats(db: Session) -> list[FleetWorker]:
    """The dispatcher's and the sweeper's heartbeats, the newest first."""
    return list(
        db.scalars(
            select(FleetWorker)
            .where(FleetWorker.state.in_(SERVICE_STATES))
            .order_by(FleetWorker.heartbeat_at.desc())
        )
    )


def items_by_id(db: Session, ids: list[int]) -> dict[int, SendItem]:
    if not ids:
        return {}
    return {i.id: i for i in db.scalars(select(SendItem).where(SendItem.id.in_(ids)))}


def running_reservations(db: Session) -> list[Reservation]:
    return list(
        db.scalars(
            select(Reservation)
            .where(
                Reservation.status.in_(
                    [ReservationStatus.APPROVED.value, ReservationStatus.PAUSED.value]
                )
            )
            .order_by(Reservation.id)
        )
    )


def in_doubt_items(db: Session, limit: int, offset: int) -> tuple[int, list[SendItem]]:
    where = SendItem.state == ItemState.IN_DOUBT.value
    total = int(db.scalar(select(func.count()).select_from(SendItem).where(where)) or 0)
    rows = db.scalars(
        select(SendItem)
        .where(where)
        .order_by(SendItem.finished_at, SendItem.id)
        .limit(limit)
        .offset(offset)
    )
    return total, list(rows)


def approved_reservation_ids(db: Session) -> list[int]:
    return list(
        db.scalars(
            select(Reservation.id)
            .where(Reservation.status == ReservationStatus.APPROVED.value)
            .order_by(Reservation.id)
        )
    )
