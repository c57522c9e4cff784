"""Chat: one thread per reservation between its member and the operators (docs/rules.md#chat).

Posting tells the other side in-app (and by e-mail through shared.notify) and rings the
reservation's live channel, so open pages fetch the new message at once."""

from __future__ import annotations

from sqlalchemy.orm import Session

from coordinator.accounts.service import Principal
from coordinator.chat import repository
from coordinator.chat.schemas import MAX_MESSAGE_CHARS, MessageOut, ThreadOut
from coordinator.errors import AppError
from coordinator.reservations.service import visible
from shared import clock, events
from shared.db import after_commit
from shared.enums import NotificationKind
from shared.models import ChatMessage, User
from shared.notify import notify

MAX_PAGE = 500
PREVIEW_CHARS = 80


def _out(message: ChatMessage, author: User) -> MessageOut:
    return MessageOut(
        id=message.id,
        reservation_id=message.reservation_id,
        author_user_id=author.id,
        author_name=author.name or author.email,
        author_role=author.role,
        body=message.body,
        created_at=message.created_at,
    )


def list_messages(
    db: Session, principal: Principal, reservation_id: int, *, after_id: int = 0, limit: int = 200
) -> list[MessageOut]:
    """The thread in order; ``after_id`` gives only what is newer (for live updates)."""
    visible(db, principal, reservation_id)
    if not 1 <= limit <= MAX_PAGE or after_id < 0:
        raise AppError("invalid_paging", f"件数は1〜{MAX_PAGE}件で指定してください")
    return [
        _out(m, u)
        for m, u in repository.messages(db, reservation_id, after_id=after_id, limit=limit)
    ]


def thread(db: Session, principal: Principal, reservation_id: int) -> list[MessageOut]:
    """The whole thread in order (the chat page)."""
    visible(db, principal, reservation_id)
    return [_out(m, u) for m, u in repository.messages(db, reservation_id, after_id=0, limit=None)]


def threads(db: Session, operator: Principal, limit: int = 200) -> list[ThreadOut]:
    """Every reservation with a chat, the most recently active first (the operators' inbox)."""
    return [
        ThreadOut(
            reservation_id=r.id,
            status=r.status,
            company=company,
            messages=n,
            last_at=last.created_at,
            last_body=last.body,
        )
        for r, company, n, last in repository.threads(db, limit)
    ]


def post_message(db: Session, principal: Principal, reservation_id: int, body: str) -> MessageOut:
    reservation = visible(db, principal, reservation_id)
    text = body.strip()
    if not text:
        raise AppError("message_empty", "メッセージを入力してください", field="body")
    if len(text) > MAX_MESSAGE_CHARS:
        raise AppError(
            "message_too_long",
            f"メッセージは{MAX_MESSAGE_CHARS:,}文字以内にしてください",
            field="body",
        )
    message = ChatMessage(
        reservation_id=reservation.id,
        author_user_id=principal.user_id,
        body=text,
        created_at=clock.now(),
    )
    db.add(message)
    db.flush()
    preview = text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"
    from_operator = principal.is_operator
    notify(
        db,
        kind=NotificationKind.CHAT_MESSAGE,
        title=(
            f"予約No.{reservation.id}のチャットに運営からメッセージがあります"
            if from_operator
            else f"予約No.{reservation.id}のチャットに会員からメッセージがあります"
        ),
        body=preview,
        member_id=reservation.member_id if from_operator else None,
        for_operators=not from_operator,
        reservation_id=reservation.id,
        data={"message_id": message.id},
    )
    rid, mid = reservation.id, message.id

    def ring() -> None:
        events.publish_reservation_event(rid, {"type": "chat_message", "message_id": mid})

    after_commit(db, ring)
    author = db.get(User, principal.user_id)
    assert author is not None
    return _out(message, author)


__all__ = ["list_messages", "post_message", "thread", "threads"]
