"""The rules of a reservation's life (docs/rules.md#reservations), shared by the coordinator and the workers.

* :func:`change_status` — every status change goes through here: it records who, why and
  when (``reservation_status_changes``) and keeps the timestamps of the row right.
* :func:`after_item_change` — called in the same transaction after any change of a
  reservation's items or counters (by the fleet after each outcome, by the coordinator after
  pause/list changes/transfers/additions). It applies, in this order:

  1. a finished reservation (completed / cancelled / auto-cancelled) has nothing queued and
     holds only the tickets its unfinished items may still consume (see below);
  2. **completion**: ``sent ≥ count`` → 完了, the unsent hold is released, the member is told;
  3. **queue-empty auto-cancel**: while *approved* (never while paused: a list change empties
     the queue on purpose) and ``queued == 0``, ``in_flight == 0`` and ``sent < count`` →
     自動キャンセル, the unsent hold is released, the member and the operators are told;
  4. **list-addition notice** (リスト追加依頼): when ``queued < 1.5 × (count − sent)`` the member
     is told once, with the suggestion ``2 × remaining − queued``; the notice re-arms when the
     queue is back at or above 1.5 × remaining (``reservations.list_notice_active``).

* :func:`auto_cancel_stale_pauses` — the sweeper's rule: paused by a member or an operator for
  *more than* 12 hours.
* :func:`auto_pause_on_errors` — the error-threshold auto-pause, after a failed attempt: a
  ``system`` pause, which never auto-cancels (a fleet problem is not the member's) and alerts
  the operators at once.

How much of a finished reservation's hold is released (:func:`release_unsent`): everything
except one ticket per item that may still turn out ``sent`` — items in flight (a worker may be
past the point of no return) and items ``in_doubt`` (an operator may resolve them as sent).
Those items then consume from the hold they need, as every other sent item does, and the
ticket of each one that ends any other way is released by the next :func:`after_item_change`.
So the ledger balances at every step and no balance goes negative (``shared.ledger.consume``
would hold one more ticket from ``available`` for a sent item that found no hold, but with
this rule that path is not needed).

Nothing here commits; the caller owns the transaction and must hold the reservation row's lock
(``shared.locks.lock_reservation``) when it changes counters.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from shared import clock, events, labels, ledger, locks
from shared.enums import (
    RESERVATION_FINAL,
    AdditionStatus,
    FailReason,
    ItemState,
    NotificationKind,
    PausedBy,
    ReservationStatus,
    SendStatus,
)
from shared.models import (
    Reservation,
    ReservationAddition,
    ReservationStatusChange,
    SendAttempt,
    SendItem,
)
from shared.notify import notify
from shared.rules import (
    ERROR_PAUSE_WINDOW,
    LIST_ADDITION_THRESHOLD,
    PAUSE_AUTO_CANCEL_AFTER,
    list_addition_suggestion,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "AUTO_PAUSE_REASONS",
    "after_item_change",
    "auto_cancel",
    "auto_pause_on_errors",
    "auto_cancel_stale_pauses",
    "cancel_queued_items",
    "change_status",
    "complete",
    "is_final",
    "record_history",
    "reject_pending_additions",
    "release_unsent",
    "tickets_still_needed",
]

log = logging.getLogger(__name__)

_S = ReservationStatus
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    _S.PENDING: frozenset({_S.APPROVED, _S.CANCELLED, _S.AUTO_CANCELLED}),
    _S.APPROVED: frozenset({_S.PAUSED, _S.COMPLETED, _S.CANCELLED, _S.AUTO_CANCELLED}),
    _S.PAUSED: frozenset({_S.APPROVED, _S.COMPLETED, _S.CANCELLED, _S.AUTO_CANCELLED}),
    _S.COMPLETED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.AUTO_CANCELLED: frozenset(),
}

# Error-threshold auto-pause (rules.ERROR_PAUSE_WINDOW): when the last 20 attempts of a
# reservation all failed with the *same* one of these reasons, the cause is almost certainly
# ours and not the sites': validation_error everywhere means the script is rejected
# everywhere (a field the sites all demand, a message too long); site_unreachable or timeout
# everywhere means the fleet's network or the fleet itself is down or overloaded. The other
# reasons (no_contact_page, no_form, http_error, and every skip) describe individual sites and
# never pause a reservation, however often they repeat.
AUTO_PAUSE_REASONS = frozenset(
    {
        FailReason.VALIDATION_ERROR.value,
        FailReason.SITE_UNREACHABLE.value,
        FailReason.TIMEOUT.value,
    }
)


def is_final(status: str) -> bool:
    return status in RESERVATION_FINAL


def change_status(
    db: Session,
    reservation: Reservation,
    to_status: str,
    *,
    actor_user_id: int | None,
    reason: str,
    now: datetime | None = None,
    paused_by: PausedBy | None = None,
) -> ReservationStatusChange:
    """Move the reservation to ``to_status`` and record who (None: the system), why and when.

    A move to paused names who paused (``paused_by``; the system when there is no actor).
    Raises ``ValueError`` for a transition the state machine does not have (callers that take
    input from people check first and answer with a clear message)."""
    now = now or clock.now()
    from_status = reservation.status
    to_status = ReservationStatus(to_status).value
    if to_status not in ALLOWED_TRANSITIONS.get(from_status, frozenset()):
        raise ValueError(f"reservation {reservation.id}: {from_status} → {to_status} not allowed")
    reservation.status = to_status
    reservation.updated_at = now
    if to_status == _S.APPROVED:
        if reservation.approved_at is None:
            reservation.approved_at = now
        reservation.paused_at = None
    elif to_status == _S.PAUSED:
        reservation.paused_at = now
        if paused_by is None:
            paused_by = PausedBy.SYSTEM if actor_user_id is None else PausedBy.MEMBER
        reservation.paused_by = PausedBy(paused_by).value
    if to_status != _S.PAUSED:
        reservation.paused_by = None
    if is_final(to_status):
        reservation.finished_at = now
    change = ReservationStatusChange(
        reservation_id=reservation.id,
        from_status=from_status,
        to_status=to_status,
        actor_user_id=actor_user_id,
        reason=reason[:300],
        at=now,
    )
    db.add(change)
    db.flush()
    events.publish_after_commit(db, reservation)
    return change


def record_history(
    db: Session,
    reservation: Reservation,
    *,
    actor_user_id: int | None,
    reason: str,
    from_status: str | None,
    now: datetime | None = None,
) -> ReservationStatusChange:
    """A history line that is not a transition (the creation, an approved addition)."""
    change = ReservationStatusChange(
        reservation_id=reservation.id,
        from_status=from_status,
        to_status=reservation.status,
        actor_user_id=actor_user_id,
        reason=reason[:300],
        at=now or clock.now(),
    )
    db.add(change)
    db.flush()
    return change


def tickets_still_needed(reservation: Reservation) -> int:
    """Tickets a finished reservation keeps held: one per item that may still be sent."""
    return max(0, reservation.in_flight) + max(0, reservation.in_doubt)


def release_unsent(db: Session, reservation: Reservation) -> int:
    """Release the reservation's hold down to :func:`tickets_still_needed`; returns how many."""
    outstanding = ledger.reservation_hold_outstanding(db, reservation.id)
    extra = outstanding - tickets_still_needed(reservation)
    if extra <= 0:
        return 0
    return ledger.release(db, reservation.member_id, reservation_id=reservation.id, quantity=extra)


def cancel_queued_items(db: Session, reservation: Reservation, now: datetime | None = None) -> int:
    """Queued (never attempted) items → cancelled, and the ``queued`` counter with them."""
    now = now or clock.now()
    result = db.execute(
        update(SendItem)
        .where(
            SendItem.reservation_id == reservation.id,
            SendItem.state == ItemState.QUEUED.value,
        )
        .values(state=ItemState.CANCELLED.value, finished_at=now)
        .execution_options(synchronize_session="fetch")
    )
    removed = int(getattr(result, "rowcount", 0) or 0)
    if removed:
        reservation.queued = max(0, reservation.queued - removed)
        reservation.updated_at = now
        db.flush()
    return removed


def _finish(
    db: Session,
    reservation: Reservation,
    to_status: str,
    *,
    actor_user_id: int | None,
    reason: str,
    now: datetime,
) -> None:
    change_status(db, reservation, to_status, actor_user_id=actor_user_id, reason=reason, now=now)
    cancel_queued_items(db, reservation, now)
    release_unsent(db, reservation)
    reject_pending_additions(db, reservation, now)


def reject_pending_additions(
    db: Session, reservation: Reservation, now: datetime | None = None
) -> int:
    """A finished reservation cannot grow: its undecided 予約数を追加 requests are closed."""
    result = db.execute(
        update(ReservationAddition)
        .where(
            ReservationAddition.reservation_id == reservation.id,
            ReservationAddition.status == AdditionStatus.PENDING.value,
        )
        .values(status=AdditionStatus.REJECTED.value, decided_at=now or clock.now())
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def complete(db: Session, reservation: Reservation, now: datetime | None = None) -> None:
    """sent reached count: 完了, the remaining queue dropped, the unsent hold released."""
    now = now or clock.now()
    _finish(
        db,
        reservation,
        _S.COMPLETED,
        actor_user_id=None,
        reason=f"送信済数が予約件数（{reservation.count:,}件）に達しました",
        now=now,
    )
    notify(
        db,
        kind=NotificationKind.COMPLETED,
        title=f"予約No.{reservation.id}の送信が完了しました",
        body=f"予約件数{reservation.count:,}件の送信が完了しました（送信済数{reservation.sent:,}件）。",
        member_id=reservation.member_id,
        reservation_id=reservation.id,
        data={"count": reservation.count, "sent": reservation.sent},
    )


def auto_cancel(
    db: Session, reservation: Reservation, reason: str, now: datetime | None = None
) -> None:
    """自動キャンセル: the queue dropped, the unsent hold released, member and operators told."""
    now = now or clock.now()
    _finish(db, reservation, _S.AUTO_CANCELLED, actor_user_id=None, reason=reason, now=now)
    body = (
        f"{reason}。送信済数{reservation.sent:,}件／予約件数{reservation.count:,}件。"
        "未送信分のチケットは残申込数に戻りました。"
    )
    for member_id, for_operators in ((reservation.member_id, False), (None, True)):
        notify(
            db,
            kind=NotificationKind.AUTO_CANCELLED,
            title=f"予約No.{reservation.id}は自動キャンセルされました",
            body=body,
            member_id=member_id,
            for_operators=for_operators,
            reservation_id=reservation.id,
            data={"reason": reason, "sent": reservation.sent, "count": reservation.count},
        )


def _list_addition_notice(db: Session, reservation: Reservation) -> None:
    suggestion = list_addition_suggestion(reservation.count, reservation.sent, reservation.queued)
    if suggestion is None:
        if reservation.list_notice_active:
            reservation.list_notice_active = False  # back above 1.5 × remaining: re-armed
        return
    if reservation.list_notice_active:
        return
    # Only where a queue is expected to run: a paused reservation may be mid list change.
    if reservation.status not in (_S.PENDING, _S.APPROVED):
        return
    reservation.list_notice_active = True
    remaining = reservation.count - reservation.sent
    notify(
        db,
        kind=NotificationKind.LIST_ADDITION_REQUEST,
        title=f"リスト追加依頼：予約No.{reservation.id}に{suggestion:,}件以上のリスト追加をお願いします",
        body=(
            f"収集中リスト数（{reservation.queued:,}件）が残り送信数（{remaining:,}件）の"
            f"{LIST_ADDITION_THRESHOLD:g}倍を"
            f"下回りました。見込客リストから「送信代行」で{suggestion:,}件以上を追加してください。"
        ),
        member_id=reservation.member_id,
        reservation_id=reservation.id,
        data={"suggested": suggestion, "queued": reservation.queued, "remaining": remaining},
    )


def after_item_change(db: Session, reservation: Reservation, now: datetime | None = None) -> None:
    """Apply the counter-driven rules once the items and counters of this transaction changed."""
    now = now or clock.now()
    if is_final(reservation.status):
        # A reaped or retried item may have come back to the queue; an unfinished item may
        # have ended without being sent: neither keeps anything of a finished reservation.
        cancel_queued_items(db, reservation, now)
        release_unsent(db, reservation)
        return
    if reservation.status != _S.PENDING and reservation.sent >= reservation.count:
        complete(db, reservation, now)
        return
    if (
        reservation.status == _S.APPROVED
        and reservation.queued <= 0
        and reservation.in_flight <= 0
        and reservation.sent < reservation.count
    ):
        auto_cancel(
            db,
            reservation,
            "収集中リストが0件になり、送信中の案件もないため自動キャンセルしました",
            now,
        )
        return
    _list_addition_notice(db, reservation)
    db.flush()


def auto_cancel_stale_pauses(db: Session, now: datetime | None = None) -> int:
    """Auto-cancel every reservation paused by a member or an operator for *more than* 12
    hours (12 h exactly stays). A system pause is never auto-cancelled: it waits for an
    operator (docs/rules.md#reservation-statuses)."""
    now = now or clock.now()
    cutoff = now - PAUSE_AUTO_CANCEL_AFTER
    ids = list(
        db.scalars(
            select(Reservation.id)
            .where(
                Reservation.status == _S.PAUSED.value,
                Reservation.paused_at < cutoff,
                or_(
                    Reservation.paused_by.is_(None),
                    Reservation.paused_by != PausedBy.SYSTEM.value,
                ),
            )
            .order_by(Reservation.id)
        )
    )
    cancelled = 0
    for reservation_id in ids:
        reservation = locks.lock_reservation(db, reservation_id)
        # Re-check under the lock: it may have been resumed or cancelled meanwhile.
        if reservation.status != _S.PAUSED or reservation.paused_at is None:
            continue
        if reservation.paused_at >= cutoff or reservation.paused_by == PausedBy.SYSTEM:
            continue
        hours = int(PAUSE_AUTO_CANCEL_AFTER.total_seconds() // 3600)
        auto_cancel(
            db,
            reservation,
            f"一時停止から{hours}時間を超えて再開されなかったため自動キャンセルしました",
            now,
        )
        cancelled += 1
        log.info(
            "reservation %s auto-cancelled after a pause (%s)",
            reservation_id,
            labels.RESERVATION_STATUS[_S.PAUSED],
        )
    return cancelled


def auto_pause_on_errors(db: Session, reservation: Reservation, now: datetime) -> bool:
    """Pause an approved reservation whose last :data:`ERROR_PAUSE_WINDOW` attempts since its
    last approval all failed with the same one of :data:`AUTO_PAUSE_REASONS`; member and
    operators are told. True when it paused."""
    if reservation.status != _S.APPROVED:
        return False
    since = db.scalar(
        select(func.max(ReservationStatusChange.at)).where(
            ReservationStatusChange.reservation_id == reservation.id,
            ReservationStatusChange.to_status == _S.APPROVED.value,
        )
    )
    stmt = select(SendAttempt.status, SendAttempt.reason).where(
        SendAttempt.reservation_id == reservation.id, SendAttempt.finished_at.is_not(None)
    )
    if since is not None:
        stmt = stmt.where(SendAttempt.started_at >= since)
    last = db.execute(
        stmt.order_by(SendAttempt.finished_at.desc(), SendAttempt.id.desc()).limit(
            ERROR_PAUSE_WINDOW
        )
    ).all()
    if len(last) < ERROR_PAUSE_WINDOW:
        return False
    kinds = {(s, r) for s, r in last}
    if len(kinds) != 1:
        return False
    status, reason = next(iter(kinds))
    if status != SendStatus.FAILED or reason not in AUTO_PAUSE_REASONS:
        return False
    why = f"直近{ERROR_PAUSE_WINDOW}件の送信がすべて同じ理由（{labels.label(labels.REASON, reason)}）で失敗したため自動で一時停止しました"
    change_status(
        db, reservation, _S.PAUSED.value, actor_user_id=None, reason=why, paused_by=PausedBy.SYSTEM
    )
    checking = labels.label(labels.PAUSED_BY, PausedBy.SYSTEM)
    notify(
        db,
        kind=NotificationKind.AUTO_PAUSED,
        title=f"予約No.{reservation.id}は{checking}です",
        body=why
        + "。運営が送信環境を確認しています。この一時停止で自動キャンセルされることはありません"
        "（スクリプトを変更して再開することもできます）。",
        member_id=reservation.member_id,
        reservation_id=reservation.id,
        data={"reason": reason, "window": ERROR_PAUSE_WINDOW},
    )
    # The operators' alert goes out with the commit (in-app and e-mail): a fleet that cannot
    # reach sites or a script every site rejects needs a person now, not in 12 hours.
    notify(
        db,
        kind=NotificationKind.SYSTEM_PAUSED,
        title=f"【要確認】予約No.{reservation.id}をシステムが一時停止しました",
        body=why
        + "。送信環境（ネットワーク・送信担当者）とスクリプトを確認し、再開またはキャンセルしてください。"
        "システムによる一時停止は自動キャンセルされません。",
        for_operators=True,
        reservation_id=reservation.id,
        data={"reason": reason, "window": ERROR_PAUSE_WINDOW, "member_id": reservation.member_id},
    )
    log.warning("reservation %s auto-paused: %s", reservation.id, why)
    return True
