from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from coordinator.dependencies import DB, CurrentUser
from coordinator.reservations.views import DEFAULT_PER_PAGE
from coordinator.responses import service
from coordinator.responses.schemas import ResponseList

router = APIRouter(prefix="/api/v1", tags=["responses"])


@router.get("/reservations/{reservation_id}/responses", response_model=ResponseList)
def reservation_responses(
    reservation_id: int,
    user: CurrentUser,
    db: DB,
    kind: Annotated[str | None, Query(description="auto_reply | reply | bounce")] = None,
    page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
) -> ResponseList:
    """The mail received for the reservation's items (自動返信, 返信, お断り, 不達通知), newest
    first, with the 反響 counters and rates (docs/rules.md#responses)."""
    return service.list_for(db, user, reservation_id, kind=kind, page=page, per_page=per_page)
