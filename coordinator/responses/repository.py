"""Queries of received mail (responses) and of the items and people it belongs to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.enums import ItemState
from shared.models import Reservation, Response, SendItem, User

RETRY_FORWARDS_FOR_DAYS = 7
FORWARD_BATCH = 50


def item_by_token(db: Session, token: str) -> SendItem | None:
    return db.scalars(select(SendItem).where(SendItem.reply_token == token)).first()


def token_exists(db: Session, token: str) -> bool:
    return db.execute(select(SendItem.id).where(SendItem.reply_token == token)).first() is not None


def by_message_id(db: Session, item_id: int, message_id: str) -> Response | None:
    return db.scalars(
        select(Response).where(Response.item_id == item_id, Response.message_id == message_id)
    ).first()


def has_response(db: Session, item_id: int, kind: str, *, refusal: bool) -> bool:
    """True when the item already has a response of this kind (a counter counts items, not
    mails: a second auto-reply to the same item proves nothing new)."""
    row = db.execute(
        select(Response.id)
        .where(Response.item_id == item_id, Response.kind == kind, Response.refusal == refusal)
        .limit(1)
    ).first()
    return row is not None


def answered_in_doubt(db: Session, limit: int = 200) -> list[tuple[int, int]]:
    """(item id, its first auto-reply or reply) of the ``in_doubt`` items that got one (the
    mail came while the item was still ``submitting``). mailin asks every minute: the query
    starts from the few ``in_doubt`` items (an index on the state) and looks up each one's
    mails by item (an index), never over all stored mail."""
    first = (
        select(func.min(Response.id))
        .where(Response.item_id == SendItem.id, Response.kind.in_(("auto_reply", "reply")))
        .correlate(SendItem)
        .scalar_subquery()
    )
    rows = db.execute(
        select(SendItem.id, first)
        .where(SendItem.state == ItemState.IN_DOUBT.value, first.is_not(None))
        .order_by(SendItem.id)
        .limit(limit)
    ).all()
    return [(int(item_id), int(response_id)) for item_id, response_id in rows]


def for_reservation(
    db: Session,
    reservation_id: int,
    *,
    kinds: tuple[str, ...] = (),
    offset: int = 0,
    limit: int = 100,
) -> tuple[int, list[tuple[Response, SendItem]]]:
    query = select(Response, SendItem).join(SendItem, SendItem.id == Response.item_id)
    query = query.where(Response.reservation_id == reservation_id)
    counted = select(func.count(Response.id)).where(Response.reservation_id == reservation_id)
    if kinds:
        query = query.where(Response.kind.in_(kinds))
        counted = counted.where(Response.kind.in_(kinds))
    total = db.scalar(counted) or 0
    rows = db.execute(query.order_by(Response.id.desc()).offset(offset).limit(limit)).all()
    return total, [(r, i) for r, i in rows]


def to_forward(
    db: Session, since: datetime, *, after_id: int = 0, limit: int = FORWARD_BATCH
) -> list[Response]:
    """Human replies not forwarded yet (a failed forward is tried again), oldest first, from
    after ``after_id`` (the caller pages on past the ones that failed)."""
    return list(
        db.scalars(
            select(Response)
            .where(
                Response.kind == "reply",
                Response.forwarded_at.is_(None),
                Response.received_at >= since,
                Response.id > after_id,
            )
            .order_by(Response.id)
            .limit(limit)
        )
    )


def member_address(db: Session, reservation: Reservation) -> str | None:
    """The member's own address: the user who made the reservation, else the member's first
    active user."""
    if reservation.created_by is not None:
        user = db.get(User, reservation.created_by)
        if user is not None and user.is_active:
            return user.email
    return db.scalar(
        select(User.email)
        .where(User.member_id == reservation.member_id, User.is_active.is_(True))
        .order_by(User.id)
        .limit(1)
    )


def counted_by_item(db: Session, item_ids: list[int]) -> dict[int, dict[str, int]]:
    """For each item: how many mails it got of each counted word (auto_reply, reply, refusal,
    bounce)."""
    if not item_ids:
        return {}
    out: dict[int, dict[str, int]] = {}
    for item_id, kind, refusal, n in db.execute(
        select(Response.item_id, Response.kind, Response.refusal, func.count())
        .where(Response.item_id.in_(item_ids))
        .group_by(Response.item_id, Response.kind, Response.refusal)
    ):
        word = "refusal" if refusal else str(kind)
        counted = out.setdefault(int(item_id), {})
        counted[word] = counted.get(word, 0) + int(n)
    return out
