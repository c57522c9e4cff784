from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from coordinator.dependencies import DB, CurrentUser
from coordinator.notifications import service
from coordinator.notifications.schemas import NotificationList, NotificationOut

router = APIRouter(prefix="/api/v1", tags=["notifications"])


@router.get("/notifications", response_model=NotificationList)
def list_notifications(
    user: CurrentUser,
    db: DB,
    unread: Annotated[bool, Query(description="only unread ones")] = False,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
    before_id: Annotated[int | None, Query(description="older than this id (paging)")] = None,
    member_id: Annotated[int | None, Query(description="operators: one member's")] = None,
) -> NotificationList:
    rows, unread_count = service.list_for(
        db, user, member_id=member_id, unread_only=unread, limit=limit, before_id=before_id
    )
    return NotificationList(
        notifications=[NotificationOut.model_validate(r, from_attributes=True) for r in rows],
        unread=unread_count,
    )


@router.post("/notifications/{notification_id}/read", response_model=NotificationOut)
def mark_read(notification_id: int, user: CurrentUser, db: DB) -> NotificationOut:
    row = service.mark_read(db, user, notification_id)
    return NotificationOut.model_validate(row, from_attributes=True)


@router.post("/notifications/read-all")
def mark_all_read(user: CurrentUser, db: DB) -> dict[str, int]:
    return {"marked": service.mark_all_read(db, user)}
