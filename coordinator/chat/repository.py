"""Queries of the chat thread of a reservation."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import ChatMessage, Member, Reservation, User


def messages(
    db: Session, reservation_id: int, *, after_id: int, limit: int | None
) -> list[tuple[ChatMessage, User]]:
    rows = db.execute(
        select(ChatMessage, User)
        .join(User, User.id == ChatMessage.author_user_id)
        .where(ChatMessage.reservation_id == reservation_id, ChatMessage.id > after_id)
        .order_by(ChatMessage.id)
        .limit(limit)
    ).all()
    return [(message, user) for message, user in rows]


def threads(db: Session, limit: int) -> list[tuple[Reservation, str, int, ChatMessage]]:
    """(reservation, company, message count, last message) of every reservation with a chat,
    the most recently active first."""
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
    return [(r, str(company), int(n), last) for r, company, n, last in rows]
