"""The moves of the item state machine that both sides make: counters, release, attempts.

Every change of an item's state goes through :func:`move`, which changes the reservation's
counters in the same transaction, under the reservation's lock (:func:`lock_item` or
``shared.locks.lock_reservation``), so counts cannot drift.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared import clock, events, lifecycle, locks, metrics
from shared.config import get_settings
from shared.enums import ITEM_IN_FLIGHT, ItemState, ReservationStatus
from shared.models import MemberContact, Reservation, SendAttempt, SendItem

IN_FLIGHT_STATES = tuple(s.value for s in ITEM_IN_FLIGHT)


def new_token() -> str:
    return secrets.token_urlsafe(18)


def now_or(now: datetime | None) -> datetime:
    return now if now is not None else clock.now()


def lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=get_settings().lease_seconds)


def fresh_item(db: Session, item_id: int) -> SendItem | None:
    stmt = select(SendItem).where(SendItem.id == item_id)
    return db.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()


def lock_item(
    db: Session, item_id: int, token: str, states: Collection[str]
) -> tuple[Reservation, SendItem] | None:
    """The item and its reservation, freshly read with the reservation locked; None when the
    item is gone, ``token`` no longer holds it, or it is in none of ``states``.

    The item is read under SQLite's writer lock, and again once its reservation is locked: it
    may have moved on while this transaction waited for the lock."""

    def held(item: SendItem | None) -> bool:
        return item is not None and item.attempt_token == token and item.state in states

    locks.writer_lock(db)
    item = fresh_item(db, item_id)
    if item is None or not held(item):
        return None
    reservation = locks.lock_reservation(db, item.reservation_id)
    item = fresh_item(db, item_id)
    if item is None or not held(item):
        return None
    return reservation, item


def contacted(db: Session, item: SendItem) -> bool:
    """Has the item's member contacted the item's domain already (``member_contacts``)?"""
    found = db.scalar(
        select(MemberContact.id)
        .where(MemberContact.member_id == item.member_id, MemberContact.domain == item.domain)
        .limit(1)
    )
    return found is not None


_COUNTER_OF_STATE = {
    ItemState.QUEUED.value: "queued",
    ItemState.DISPATCHED.value: "in_flight",
    ItemState.RUNNING.value: "in_flight",
    ItemState.SUBMITTING.value: "in_flight",
    ItemState.SENT.value: "sent",
    ItemState.FAILED.value: "failed",
    ItemState.SKIPPED.value: "skipped",
    ItemState.IN_DOUBT.value: "in_doubt",
}


def move(reservation: Reservation, item: SendItem, to_state: str) -> None:
    """Change the item's state and the reservation's counters together."""
    before = _COUNTER_OF_STATE.get(item.state)
    after = _COUNTER_OF_STATE.get(to_state)
    if before != after:
        if before is not None:
            setattr(reservation, before, getattr(reservation, before) - 1)
        if after is not None:
            setattr(reservation, after, getattr(reservation, after) + 1)
        if after == _COUNTER_OF_STATE[ItemState.SENT.value]:
            # 予約履歴's 更新日 moves with 送信済数 (docs/rules.md#reservation-statuses).
            reservation.updated_at = clock.now()
    item.state = to_state


def after_change(db: Session, reservation: Reservation) -> None:
    """The reservation's lifecycle rules, and its counters published once this commits."""
    db.flush()
    lifecycle.after_item_change(db, reservation)
    events.publish_after_commit(db, reservation)


def _list_removed_since(db: Session, item: SendItem) -> bool:
    """Were queued items of this reservation removed (cancelled) after this item went out?"""
    if item.dispatched_at is None:
        return False
    removed = db.scalar(
        select(SendItem.id)
        .where(
            SendItem.reservation_id == item.reservation_id,
            SendItem.state == ItemState.CANCELLED.value,
            SendItem.finished_at >= item.dispatched_at,
            SendItem.id != item.id,
        )
        .limit(1)
    )
    return removed is not None


def release(db: Session, reservation: Reservation, item: SendItem, now: datetime) -> None:
    """Back to queued (a paused reservation, an expired lease before submit) or cancelled (the
    reservation is over)."""
    if reservation.status in (
        ReservationStatus.COMPLETED,
        ReservationStatus.CANCELLED,
        ReservationStatus.AUTO_CANCELLED,
    ):
        move(reservation, item, ItemState.CANCELLED.value)
        item.finished_at = now
    elif reservation.status == ReservationStatus.PAUSED and _list_removed_since(db, item):
        # 「現在のリストを送信担当者から削除」 while this item was out: it belonged to the removed
        # list, so it must not come back into the queue the member is about to refill.
        move(reservation, item, ItemState.CANCELLED.value)
        item.finished_at = now
    else:
        move(reservation, item, ItemState.QUEUED.value)
    item.attempt_token = None
    item.lease_expires_at = None
    item.worker_id = None


def finish_attempt(
    db: Session,
    item: SendItem,
    token: str | None,
    status: str | None,
    reason: str | None,
    now: datetime,
    elapsed_ms: int | None = None,
) -> None:
    """Close the attempt row of ``token`` (once: a closed attempt stays as it was)."""
    if token is None:
        return
    attempt = db.scalars(
        select(SendAttempt)
        .where(SendAttempt.item_id == item.id, SendAttempt.attempt_token == token)
        .order_by(SendAttempt.id.desc())
        .limit(1)
    ).first()
    if attempt is None or attempt.finished_at is not None:
        return
    attempt.status = status
    attempt.reason = reason
    attempt.finished_at = now
    attempt.elapsed_ms = elapsed_ms


def finish_item(
    db: Session,
    reservation: Reservation,
    item: SendItem,
    token: str | None,
    status: str,
    reason: str | None,
    now: datetime,
    elapsed_ms: int | None = None,
) -> None:
    """The item's final state and reason, and its attempt closed with them (and counted for
    the fleet's metrics once this commits)."""
    move(reservation, item, status)
    item.reason = reason
    item.finished_at = now
    item.attempt_token = None
    item.lease_expires_at = None
    finish_attempt(db, item, token, status, reason, now, elapsed_ms)
    metrics.record_send(
        db, item.id, status, reason, None if elapsed_ms is None else elapsed_ms / 1000
    )
