"""Queries of reservations, their items, history, additions and transfers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

from sqlalchemy import Table, func, insert, or_, select
from sqlalchemy.orm import Session

from coordinator.prospects import search
from shared import clock
from shared.db import may_idle
from shared.enums import AdditionStatus, ItemState, ReservationStatus
from shared.models import (
    ChatMessage,
    ListTransfer,
    Member,
    Prospect,
    Reservation,
    ReservationAddition,
    ReservationStatusChange,
    SendItem,
    User,
)

_INSERT_BATCH = 5_000
_SEND_ITEMS = cast(Table, SendItem.__table__)


def member(db: Session, member_id: int) -> Member:
    row = db.get(Member, member_id)
    assert row is not None  # a principal's member exists
    return row


def get(db: Session, reservation_id: int) -> Reservation | None:
    return db.get(Reservation, reservation_id)


def by_ids(db: Session, reservation_ids: set[int]) -> list[Reservation]:
    if not reservation_ids:
        return []
    return list(
        db.scalars(
            select(Reservation)
            .where(Reservation.id.in_(reservation_ids))
            .order_by(Reservation.id.desc())
        )
    )


def page(
    db: Session,
    *,
    member_id: int | None,
    statuses: Sequence[str],
    offset: int,
    limit: int,
    search: str = "",
) -> tuple[int, list[Reservation]]:
    """A page of reservations, newest first; ``search`` is a No (予約ID, digits alone) or part of
    the member's company name or of the name of who made it."""
    where: list[Any] = []
    if member_id is not None:
        where.append(Reservation.member_id == member_id)
    if statuses:
        where.append(Reservation.status.in_(list(statuses)))
    if search:
        text = or_(
            Reservation.contact_name.contains(search, autoescape=True),
            Reservation.member_id.in_(
                select(Member.id).where(Member.company_name.contains(search, autoescape=True))
            ),
        )
        # Digits alone are a No: 「12」 finds 予約No.12, not every name with a 12 in it.
        where.append(Reservation.id == int(search) if search.isdigit() else text)
    total = int(db.scalar(select(func.count()).select_from(Reservation).where(*where)) or 0)
    rows = db.scalars(
        select(Reservation)
        .where(*where)
        .order_by(Reservation.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return total, list(rows)


def company_names(db: Session, member_ids: set[int]) -> dict[int, str]:
    if not member_ids:
        return {}
    rows = db.execute(select(Member.id, Member.company_name).where(Member.id.in_(member_ids)))
    return {int(mid): str(name) for mid, name in rows}


def chat_counts(db: Session, reservation_ids: list[int]) -> dict[int, int]:
    if not reservation_ids:
        return {}
    rows = db.execute(
        select(ChatMessage.reservation_id, func.count())
        .where(ChatMessage.reservation_id.in_(reservation_ids))
        .group_by(ChatMessage.reservation_id)
    )
    return {int(rid): int(n) for rid, n in rows}


def approvers(db: Session, reservation_ids: list[int]) -> dict[int, str]:
    """The name of the operator who approved each reservation (its 担当者)."""
    if not reservation_ids:
        return {}
    rows = db.execute(
        select(ReservationStatusChange.reservation_id, User.name)
        .join(User, User.id == ReservationStatusChange.actor_user_id)
        .where(
            ReservationStatusChange.reservation_id.in_(reservation_ids),
            ReservationStatusChange.from_status == ReservationStatus.PENDING.value,
            ReservationStatusChange.to_status == ReservationStatus.APPROVED.value,
        )
    )
    return {int(rid): name or "" for rid, name in rows}


def additions(
    db: Session, reservation_ids: list[int], status: str | None = None
) -> list[ReservationAddition]:
    if not reservation_ids:
        return []
    stmt = select(ReservationAddition).where(
        ReservationAddition.reservation_id.in_(reservation_ids)
    )
    if status is not None:
        stmt = stmt.where(ReservationAddition.status == status)
    return list(db.scalars(stmt.order_by(ReservationAddition.id)))


def pending_additions_all(db: Session, offset: int, limit: int) -> list[ReservationAddition]:
    return list(
        db.scalars(
            select(ReservationAddition)
            .where(ReservationAddition.status == AdditionStatus.PENDING.value)
            .order_by(ReservationAddition.id)
            .offset(offset)
            .limit(limit)
        )
    )


def lock_addition(db: Session, addition_id: int) -> ReservationAddition | None:
    stmt = select(ReservationAddition).where(ReservationAddition.id == addition_id)
    if db.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update()
    return db.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()


def history(db: Session, reservation_id: int) -> list[tuple[ReservationStatusChange, str | None]]:
    rows = db.execute(
        select(ReservationStatusChange, User.name)
        .outerjoin(User, User.id == ReservationStatusChange.actor_user_id)
        .where(ReservationStatusChange.reservation_id == reservation_id)
        .order_by(ReservationStatusChange.at, ReservationStatusChange.id)
    ).all()
    return [(change, name) for change, name in rows]


def transfers(db: Session, reservation_id: int) -> list[ListTransfer]:
    return list(
        db.scalars(
            select(ListTransfer)
            .where(ListTransfer.reservation_id == reservation_id)
            .order_by(ListTransfer.id)
        )
    )


def queue_candidates(
    db: Session, query: search.ProspectQuery, member_id: int, limit: int
) -> list[Any]:
    """What ``search.select_for_queue`` selects (same conditions, same order), as plain rows:
    a queue of tens of thousands is filled without building an ORM object per prospect."""
    if limit <= 0:
        return []
    where = search.conditions(query, member_id, for_queue=True)
    stmt = (
        select(Prospect.id, Prospect.domain, Prospect.url, Prospect.company)
        .where(*where)
        .order_by(Prospect.id)
        .limit(limit)
    )
    return [row for row in db.execute(stmt)]


def insert_items(
    db: Session, reservation: Reservation, prospects: Sequence[Any], make_token: Any
) -> int:
    """Queue one item per prospect (the caller has excluded contacted and suppressed ones).

    With a second script (A/B) every other item is sent with it (``script_id``), counting on
    from the items the reservation already has, so added lists keep the halves even."""
    now = clock.now()
    b_script = reservation.script_b_id
    first = (
        int(
            db.scalar(
                select(func.count())
                .select_from(SendItem)
                .where(SendItem.reservation_id == reservation.id)
            )
            or 0
        )
        if b_script
        else 0
    )
    rows = [
        {
            "reservation_id": reservation.id,
            "member_id": reservation.member_id,
            "prospect_id": p.id,
            "domain": p.domain,
            "url": p.url,
            "company": p.company,
            "state": ItemState.QUEUED.value,
            "optout_token": make_token(),
            "attempts": 0,
            "created_at": now,
            "script_id": b_script if b_script and (first + i) % 2 == 1 else None,
        }
        for i, p in enumerate(p for p in prospects if p.domain)
    ]
    for start in range(0, len(rows), _INSERT_BATCH):
        # Core executemany: the ORM's bulk path costs more than the insert itself here.
        db.connection().execute(insert(_SEND_ITEMS), rows[start : start + _INSERT_BATCH])
    return len(rows)


def item_filters(reservation_id: int, state: str | None, reason: str | None) -> list[Any]:
    where: list[Any] = [SendItem.reservation_id == reservation_id]
    if state:
        where.append(SendItem.state == state)
    if reason:
        where.append(SendItem.reason == reason)
    return where


def items_page(
    db: Session,
    reservation_id: int,
    *,
    state: str | None,
    reason: str | None,
    offset: int,
    limit: int,
    attempted_first: bool = False,
) -> tuple[int, list[SendItem]]:
    """A page of the items in id order, or with ``attempted_first`` what ended last first
    (then what is still queued, and what was removed at the end): the results page's order."""
    where = item_filters(reservation_id, state, reason)
    total = int(db.scalar(select(func.count()).select_from(SendItem).where(*where)) or 0)
    order: tuple[Any, ...] = (SendItem.id,)
    if attempted_first:
        order = (
            (SendItem.state == ItemState.CANCELLED.value).asc(),
            SendItem.finished_at.desc().nulls_last(),
            SendItem.id,
        )
    rows = db.scalars(select(SendItem).where(*where).order_by(*order).offset(offset).limit(limit))
    return total, list(rows)


def item(db: Session, item_id: int) -> SendItem | None:
    return db.get(SendItem, item_id)


def iter_items(
    db: Session, reservation_id: int, *, state: str | None, reason: str | None
) -> Iterator[SendItem]:
    may_idle(db)  # the download waits on the client between batches
    where = item_filters(reservation_id, state, reason)
    stmt = select(SendItem).where(*where).order_by(SendItem.id).execution_options(yield_per=1000)
    yield from db.scalars(stmt)


def item_of(db: Session, reservation_id: int, item_id: int) -> SendItem | None:
    return db.scalar(
        select(SendItem).where(SendItem.id == item_id, SendItem.reservation_id == reservation_id)
    )
