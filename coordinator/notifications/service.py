"""In-app notifications (the rows :func:`shared.notify.notify` writes) for members and operators."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.orm import Session

from coordinator.accounts.service import Principal
from coordinator.errors import NotFound
from coordinator.notifications import repository
from shared import clock
from shared.models import Notification

MAX_PAGE = 200


def list_for(
    db: Session,
    principal: Principal,
    *,
    member_id: int | None = None,
    unread_only: bool = False,
    limit: int = 50,
    before_id: int | None = None,
) -> tuple[Sequence[Notification], int]:
    """(newest first page, unread count). ``member_id`` is honoured for operators only."""
    if not principal.is_operator:
        member_id = None
    rows = repository.visible(
        db,
        principal,
        member_id=member_id,
        unread_only=unread_only,
        limit=max(1, min(limit, MAX_PAGE)),
        before_id=before_id,
    )
    return rows, repository.unread_count(db, principal, member_id)


def mark_read(db: Session, principal: Principal, notification_id: int) -> Notification:
    row = repository.one_visible(db, principal, notification_id)
    if row is None:  # another member's notification is "not found": ids leak nothing
        raise NotFound("お知らせ")
    if row.read_at is None:
        row.read_at = clock.now()
        db.flush()
    return row


def mark_all_read(db: Session, principal: Principal) -> int:
    result = db.execute(
        update(Notification)
        .where(repository.audience(principal), Notification.read_at.is_(None))
        .values(read_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
