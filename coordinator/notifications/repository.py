"""Queries of notifications, always scoped to whom they are for."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from coordinator.accounts import access
from coordinator.accounts.service import Principal
from shared.models import Notification


def audience(principal: Principal, member_id: int | None = None) -> ColumnElement[bool]:
    """What ``principal`` may see: a member its own; an operator the operators' notices, or
    (asked by ``member_id``) one member's."""
    if not principal.is_operator:
        return Notification.member_id == principal.member_id
    if member_id is not None:
        return Notification.member_id == member_id
    return Notification.for_operators == true()


def visible(
    db: Session,
    principal: Principal,
    *,
    member_id: int | None,
    unread_only: bool,
    limit: int,
    before_id: int | None,
) -> Sequence[Notification]:
    query = select(Notification).where(audience(principal, member_id))
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    return db.scalars(query.order_by(Notification.id.desc()).limit(limit)).all()


def unread_count(db: Session, principal: Principal, member_id: int | None) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(Notification)
            .where(audience(principal, member_id), Notification.read_at.is_(None))
        )
        or 0
    )


def one_visible(db: Session, principal: Principal, notification_id: int) -> Notification | None:
    row = db.get(Notification, notification_id)
    return row if row is not None and access.may_see(principal, row.member_id) else None
