"""Queries of the chat thread of a reservation."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import ChatMessage, User


def messages(
    db: Session, reservation_id: int, *, after_id: int, limit: int
) -> list[tuple[ChatMessage, User]]:
    rows = db.execute(
        select(ChatMessage, User)
        .join(User, User.id == ChatMessage.author_user_id)
        .where(ChatMessage.reservation_id == reservation_id, ChatMessage.id > after_id)
        .order_by(ChatMessage.id)
        .limit(limit)
    ).all()
    return [(message, user) for message, user in rows]
