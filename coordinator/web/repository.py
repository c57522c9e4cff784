"""Read-only queries behind the pages (lists, counts, charts). Every write goes through the
domain services; a member only ever sees rows of its own member id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coordinator.accounts.service import Principal
from coordinator.errors import NotFound
from shared import clock
from shared.enums import ReservationStatus
from shared.models import (
    ChatMessage,
    FleetWorker,
    ImportJob,
    Member,
    Reservation,
    ReservationAddition,
    Script,
    SendItem,
    Suppression,
    TicketOrder,
    User,
)

ITEMS_PER_PAGE = 50


def orders(db: Session, member_id: int | None, status: str | None = None) -> list[TicketOrder]:
    query = select(TicketOrder).order_by(TicketOrder.id.desc())
    if member_id is not None:
        query = query.where(TicketOrder.member_id == member_id)
    if status:
        query = query.where(TicketOrder.status == status)
    return list(db.scalars(query.limit(500)))


def order_for(db: Session, principal: Principal, order_id: int) -> TicketOrder:
    order = db.get(TicketOrder, order_id)
    if order is None or (not principal.is_operator and order.member_id != principal.member_id):
        raise NotFound("申込")
    return order


def scripts(db: Session, member_id: int | None) -> list[Script]:
    return list(
        db.scalars(
            select(Script)
            .where(Script.member_id == member_id, Script.deleted_at.is_(None))
            .order_by(Script.id.desc())
        )
    )


def script_for(db: Session, member_id: int | None, script_id: int) -> Script:
    script = db.get(Script, script_id)
    if script is None or script.member_id != member_id or script.deleted_at is not None:
        raise NotFound("スクリプト")
    return script


@dataclass(frozen=True)
class ReservationRow:
    reservation: Reservation
    company: str
    contact: str
    pending_additions: int


def reservations(
    db: Session, principal: Principal, statuses: list[str] | None = None, limit: int = 300
) -> list[ReservationRow]:
    query = (
        select(Reservation, Member.company_name, User.name)
        .join(Member, Member.id == Reservation.member_id)
        .outerjoin(User, User.id == Reservation.created_by)
        .order_by(Reservation.id.desc())
        .limit(limit)
    )
    if not principal.is_operator:
        query = query.where(Reservation.member_id == principal.member_id)
    if statuses:
        query = query.where(Reservation.status.in_(statuses))
    rows = db.execute(query).all()
    pending = dict(
        db.execute(
            select(ReservationAddition.reservation_id, func.count())
            .where(
                ReservationAddition.status == "pending",
                ReservationAddition.reservation_id.in_([r[0].id for r in rows] or [0]),
            )
            .group_by(ReservationAddition.reservation_id)
        ).all()
    )
    return [
        ReservationRow(r, company, r.contact_name or (name or ""), int(pending.get(r.id, 0)))
        for r, company, name in rows
    ]


def reservation_for(db: Session, principal: Principal, reservation_id: int) -> ReservationRow:
    reservation = db.get(Reservation, reservation_id)
    if reservation is None or (
        not principal.is_operator and reservation.member_id != principal.member_id
    ):
        raise NotFound("予約")
    member = db.get(Member, reservation.member_id)
    creator = db.get(User, reservation.created_by) if reservation.created_by else None
    pending = db.scalar(
        select(func.count()).where(
            ReservationAddition.reservation_id == reservation.id,
            ReservationAddition.status == "pending",
        )
    )
    return ReservationRow(
        reservation,
        member.company_name if member else "",
        reservation.contact_name or (creator.name if creator else ""),
        int(pending or 0),
    )


def open_reservations(db: Session, member_id: int | None) -> list[Reservation]:
    """Reservations a list can still be moved into (送信代行 / 見込客リスト変更)."""
    return list(
        db.scalars(
            select(Reservation)
            .where(
                Reservation.member_id == member_id,
                Reservation.status.in_(
                    [
                        ReservationStatus.PENDING,
                        ReservationStatus.APPROVED,
                        ReservationStatus.PAUSED,
                    ]
                ),
            )
            .order_by(Reservation.id.desc())
        )
    )


def additions(db: Session, reservation_id: int) -> list[ReservationAddition]:
    return list(
        db.scalars(
            select(ReservationAddition)
            .where(ReservationAddition.reservation_id == reservation_id)
            .order_by(ReservationAddition.id)
        )
    )


@dataclass(frozen=True)
class PendingAddition:
    addition: ReservationAddition
    reservation: Reservation
    company: str


def pending_additions(db: Session) -> list[PendingAddition]:
    rows = db.execute(
        select(ReservationAddition, Reservation, Member.company_name)
        .join(Reservation, Reservation.id == ReservationAddition.reservation_id)
        .join(Member, Member.id == Reservation.member_id)
        .where(ReservationAddition.status == "pending")
        .order_by(ReservationAddition.id)
    ).all()
    return [PendingAddition(a, r, c) for a, r, c in rows]


def items(
    db: Session,
    reservation_id: int,
    *,
    state: str | None = None,
    reason: str | None = None,
    page: int = 1,
    per_page: int = ITEMS_PER_PAGE,
) -> tuple[int, list[SendItem]]:
    where = [SendItem.reservation_id == reservation_id]
    if state:
        where.append(SendItem.state == state)
    if reason:
        where.append(SendItem.reason == reason)
    total = db.scalar(select(func.count()).select_from(SendItem).where(*where)) or 0
    rows = db.scalars(
        select(SendItem)
        .where(*where)
        # What was attempted first (newest first); removed (cancelled) rows after them.
        .order_by(
            (SendItem.state == "cancelled").asc(),
            SendItem.finished_at.desc().nulls_last(),
            SendItem.id,
        )
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return int(total), list(rows)


def all_items(db: Session, reservation_id: int) -> list[SendItem]:
    return list(
        db.scalars(
            select(SendItem).where(SendItem.reservation_id == reservation_id).order_by(SendItem.id)
        )
    )


def item_for(db: Session, principal: Principal, item_id: int) -> SendItem:
    item = db.get(SendItem, item_id)
    if item is None or (not principal.is_operator and item.member_id != principal.member_id):
        raise NotFound("送信結果")
    return item


def outcomes(db: Session, reservation_id: int | None = None) -> list[tuple[str, str, int]]:
    query = (
        select(SendItem.state, SendItem.reason, func.count())
        .where(SendItem.state.in_(["sent", "failed", "skipped", "in_doubt"]))
        .group_by(SendItem.state, SendItem.reason)
        .order_by(func.count().desc())
    )
    if reservation_id is not None:
        query = query.where(SendItem.reservation_id == reservation_id)
    return [(s, r or "", int(n)) for s, r, n in db.execute(query).all()]


def sends_per_minute(
    db: Session, reservation_id: int | None = None, minutes: int = 30, now: datetime | None = None
) -> list[int]:
    """Sent items per minute over the last ``minutes`` minutes, oldest first."""
    now = now or clock.now()
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
    query = select(SendItem.finished_at).where(
        SendItem.state == "sent", SendItem.finished_at >= start
    )
    if reservation_id is not None:
        query = query.where(SendItem.reservation_id == reservation_id)
    buckets = [0] * minutes
    for (finished,) in db.execute(query):
        if finished is None:
            continue
        index = int((finished - start).total_seconds() // 60)
        if 0 <= index < minutes:
            buckets[index] += 1
    return buckets


def in_doubt_items(db: Session) -> list[SendItem]:
    return list(
        db.scalars(select(SendItem).where(SendItem.state == "in_doubt").order_by(SendItem.id))
    )


def chat_messages(db: Session, reservation_id: int) -> list[tuple[ChatMessage, User]]:
    rows = db.execute(
        select(ChatMessage, User)
        .join(User, User.id == ChatMessage.author_user_id)
        .where(ChatMessage.reservation_id == reservation_id)
        .order_by(ChatMessage.id)
    ).all()
    return [(m, u) for m, u in rows]


def workers(db: Session) -> list[FleetWorker]:
    return list(db.scalars(select(FleetWorker).order_by(FleetWorker.heartbeat_at.desc())))


def suppressions(db: Session, member_id: int | None, limit: int = 300) -> list[Suppression]:
    query = select(Suppression).order_by(Suppression.id.desc()).limit(limit)
    if member_id is not None:
        query = query.where(Suppression.member_id == member_id)
    return list(db.scalars(query))


def import_jobs(db: Session, limit: int = 20) -> list[ImportJob]:
    return list(db.scalars(select(ImportJob).order_by(ImportJob.id.desc()).limit(limit)))


def import_job(db: Session, job_id: int) -> ImportJob:
    job = db.get(ImportJob, job_id)
    if job is None:
        raise NotFound("インポート")
    return job


def distinct_values(db: Session, column: Any, limit: int = 200) -> list[str]:
    """The choices of a search select (業種, 都道府県) as they occur in the prospect list."""
    rows = db.scalars(select(column).where(column != "").distinct().order_by(column).limit(limit))
    return [str(v) for v in rows]


def script_by_id(db: Session, script_id: int) -> Script | None:
    return db.get(Script, script_id)


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def evidence_names(folder: Path) -> list[str]:
    """The screenshots the worker left in an item's evidence folder."""
    if not folder.is_dir():
        return []
    return sorted(
        p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES
    )


@dataclass(frozen=True)
class ChatThread:
    reservation: Reservation
    company: str
    messages: int
    last_at: datetime
    last_body: str


def chat_threads(db: Session, limit: int = 200) -> list[ChatThread]:
    """Every reservation with a chat, the most recently active first (operators' inbox)."""
    stats = (
        select(
            ChatMessage.reservation_id.label("rid"),
            func.count().label("n"),
            func.max(ChatMessage.id).label("last_id"),
        )
        .group_by(ChatMessage.reservation_id)
        .subquery()
    )
    rows = db.execute(
        select(Reservation, Member.company_name, stats.c.n, ChatMessage)
        .join(stats, stats.c.rid == Reservation.id)
        .join(Member, Member.id == Reservation.member_id)
        .join(ChatMessage, ChatMessage.id == stats.c.last_id)
        .order_by(stats.c.last_id.desc())
        .limit(limit)
    ).all()
    return [
        ChatThread(r, company, int(n), last.created_at, last.body) for r, company, n, last in rows
    ]
