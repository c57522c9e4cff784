from __future__ import annotations

from fastapi import APIRouter

from coordinator.chat import service
from coordinator.chat.schemas import MessageCreate, MessageList, MessageOut
from coordinator.dependencies import DB, CurrentUser

router = APIRouter(prefix="/api/v1", tags=["chat"])


@router.get("/reservations/{reservation_id}/messages", response_model=MessageList)
def list_messages(
    reservation_id: int, user: CurrentUser, db: DB, after_id: int = 0, limit: int = 200
) -> MessageList:
    messages = service.list_messages(db, user, reservation_id, after_id=after_id, limit=limit)
    return MessageList(reservation_id=reservation_id, messages=messages)


@router.post("/reservations/{reservation_id}/messages", response_model=MessageOut, status_code=201)
def post_message(reservation_id: int, body: MessageCreate, user: CurrentUser, db: DB) -> MessageOut:
    return service.post_message(db, user, reservation_id, body.body)
