"""Reservations (予約代行): the commands — creation with every rule of
docs/rules.md#reservations, approval, senders, pause / resume / cancel, list transfers (送信代行) and
予約数を追加. What a reservation looks like to a reader is in ``views``; its results, the
results CSV and the evidence files are in ``results``.

Services never commit (the request does). Every change of a reservation's counters holds the
reservation's row lock (``shared.locks.lock_reservation``, the same lock the fleet takes) and
ends with ``shared.lifecycle.after_item_change``, so the counter-driven rules (completion,
queue-empty auto-cancel, the list-addition notice) apply whoever changed the queue.

Queue size on creation: the queue is filled with *every* prospect of the list that may be
sent to (URL有り, not contacted by this member, not suppressed), up to
``QUEUE_FILL_FACTOR × count`` (10×). The 2× rule guarantees a runway; taking more means fewer
list-addition requests while failures and skips eat the queue, and the cap keeps one
reservation of a huge search from queueing the whole prospect table.

Ticket hold on cancel: see ``shared.lifecycle`` — everything is released except one ticket
per item in flight or in doubt, which is released as soon as that item ends unsent.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.orm import Session

from coordinator.accounts import access
from coordinator.accounts.service import Principal
from coordinator.errors import AppError, NotFound
from coordinator.prospects import search
from coordinator.reservations import errors, repository
from coordinator.scripts import service as scripts
from shared import clock, events, ledger, lifecycle, send_window
from shared.config import get_settings
from shared.enums import AdditionStatus, NotificationKind, PausedBy, ReservationStatus
from shared.locks import lock_member, lock_reservation
from shared.models import ListTransfer, Reservation, ReservationAddition
from shared.notify import notify
from shared.rules import (
    LIST_SIZE_FACTOR,
    MIN_SENDERS,
    RESERVATION_COUNT_STEP,
    RESERVATION_MIN_COUNT,
    max_senders,
)

QUEUE_FILL_FACTOR = 10  # queue every sendable prospect of the list, up to 10 × count
MAX_TRANSFER = 100_000  # リスト移行件数 of one 送信代行

_S = ReservationStatus
# Open: a list can still be moved in, more sends asked for, the reservation cancelled.
OPEN_STATUSES = (_S.PENDING.value, _S.APPROVED.value, _S.PAUSED.value)


# --- access ------------------------------------------------------------------------------------


def visible(db: Session, principal: Principal, reservation_id: int) -> Reservation:
    """The reservation if this principal may see it; another member's does not exist (404)."""
    return access.visible(principal, repository.get(db, reservation_id), "予約")


def _locked(db: Session, principal: Principal, reservation_id: int) -> Reservation:
    visible(db, principal, reservation_id)
    return lock_reservation(db, reservation_id)


# --- creation ----------------------------------------------------------------------------------


def _check_count(count: int) -> None:
    if count < RESERVATION_MIN_COUNT:
        raise errors.count_below_minimum()
    if count % RESERVATION_COUNT_STEP:
        raise errors.count_not_multiple()


def _check_member_senders(count: int, senders: int) -> None:
    if senders < MIN_SENDERS:
        raise errors.senders_below_minimum()
    maximum = max_senders(count)
    if senders > maximum:
        raise errors.senders_exceed_maximum(count, maximum)


def _parse_list(list_url: str) -> search.ProspectQuery:
    try:
        query = search.parse_list_url(list_url)
    except AppError as exc:
        raise errors.list_url_invalid(exc.message) from None
    if not query.has_url:
        raise errors.list_url_requires_has_url()
    return query.without_paging()


def _own_script(db: Session, principal: Principal, script_id: int) -> None:
    try:
        scripts.get_owned(db, principal, script_id)
    except NotFound:
        raise errors.script_not_found() from None


def _candidates(
    db: Session, query: search.ProspectQuery, member_id: int, limit: int, field: str = "list_url"
) -> list[Any]:
    """The prospects a queue would get (read before anything is written, so a refusal leaves
    nothing behind even for a caller that goes on to commit)."""
    candidates = repository.queue_candidates(db, query, member_id, limit)
    if not candidates:
        raise errors.list_empty(field)
    return candidates


def _fill_queue(db: Session, reservation: Reservation, candidates: list[Any]) -> int:
    added = repository.insert_items(db, reservation, candidates, lambda: secrets.token_urlsafe(24))
    reservation.queued += added
    db.flush()
    return added


def create(
    db: Session,
    principal: Principal,
    *,
    count: int,
    senders: int,
    list_url: str,
    script_id: int,
    script_b_id: int | None = None,
    send_window: dict[str, Any] | None = None,
    window_given: bool = False,
    remember_window: bool = False,
) -> Reservation:
    """A member's reservation (申請中): validated, ``count`` tickets held, the queue filled.

    The send window is ``send_window`` when ``window_given`` (None: any time), else the
    member's default; ``remember_window`` makes the given one the member's default. With
    ``script_b_id`` (A/B, docs/rules.md#ab-scripts) every other item is sent with that script."""
    member_id = access.member_id_of(principal)
    _check_count(count)
    _check_member_senders(count, senders)
    _own_script(db, principal, script_id)
    if script_b_id is not None:
        if script_b_id == script_id:
            raise errors.ab_scripts_same()
        _own_script(db, principal, script_b_id)
    member = repository.member(db, member_id)
    window = _window(send_window) if window_given else member.default_send_window
    if remember_window and window_given:
        member.default_send_window = window
    query = _parse_list(list_url)
    # Holds of one member are serialized from here on (and so are their queue fills, which
    # must not pick the same prospect twice).
    lock_member(db, member_id)
    available = ledger.balance(db, member_id).available
    if count > available:
        raise errors.count_exceeds_tickets(count, available)
    found = search.count(db, query, member_id)
    needed = LIST_SIZE_FACTOR * count
    if found < needed:
        raise errors.list_too_small(found, needed)
    candidates = _candidates(db, query, member_id, QUEUE_FILL_FACTOR * count)
    now = clock.now()
    reservation = Reservation(
        member_id=member_id,
        script_id=script_id,
        script_b_id=script_b_id,
        created_by=principal.user_id,
        contact_name=principal.name,
        list_query=search.to_query_string(query),
        count=count,
        senders=senders,
        status=_S.PENDING.value,
        send_window=window,
        created_at=now,
        updated_at=now,
    )
    db.add(reservation)
    db.flush()
    try:  # the balance was read under the member's lock, which this transaction still holds
        ledger.hold(db, member_id, count, reservation_id=reservation.id)
    except ledger.InsufficientTickets as exc:  # pragma: no cover — only if that lock broke
        raise errors.count_exceeds_tickets(count, exc.available) from None
    _fill_queue(db, reservation, candidates)
    lifecycle.record_history(
        db,
        reservation,
        actor_user_id=principal.user_id,
        reason=f"予約を申請しました（{count:,}件・送信担当者{senders}人）",
        from_status=None,
        now=now,
    )
    notify(
        db,
        kind=NotificationKind.RESERVATION_REQUESTED,
        title=f"予約の申請があります（予約No.{reservation.id}・{count:,}件）",
        body=f"会員: {principal.name}（member {member_id}）\n承認をお願いします。",
        for_operators=True,
        reservation_id=reservation.id,
        data={"count": count, "senders": senders},
    )
    lifecycle.after_item_change(db, reservation)
    events.publish_after_commit(db, reservation)
    return reservation


# --- operator decisions ------------------------------------------------------------------------


def approve(db: Session, operator: Principal, reservation_id: int) -> Reservation:
    reservation = _locked(db, operator, reservation_id)
    if reservation.status != _S.PENDING:
        raise errors.invalid_status("承認", reservation.status)
    lifecycle.change_status(
        db, reservation, _S.APPROVED, actor_user_id=operator.user_id, reason="運営が承認しました"
    )
    notify(
        db,
        kind=NotificationKind.RESERVATION_APPROVED,
        title=f"予約No.{reservation.id}が承認されました",
        body=f"送信依頼件数{reservation.count:,}件の送信を開始します。",
        member_id=reservation.member_id,
        reservation_id=reservation.id,
    )
    lifecycle.after_item_change(db, reservation)
    return reservation


def set_senders(db: Session, operator: Principal, reservation_id: int, senders: int) -> Reservation:
    """Operators own capacity: any value 0 (hold) … fleet maximum, live (next dispatcher tick)."""
    maximum = get_settings().fleet_max_senders
    if not 0 <= senders <= maximum:
        raise errors.senders_out_of_range(maximum)
    reservation = _locked(db, operator, reservation_id)
    if lifecycle.is_final(reservation.status):
        raise errors.invalid_status("送信担当者数を変更", reservation.status)
    reservation.senders = senders
    reservation.updated_at = clock.now()
    db.flush()
    events.publish_after_commit(db, reservation)
    return reservation


# --- the member's changes --------------------------------------------------------------------

# 「リストやスクリプトを変更したい時は一時停止」: the script (and the send window) change only
# while nothing sends.
SCRIPT_CHANGE_STATUSES = (_S.PENDING.value, _S.PAUSED.value)


def _window(window: dict[str, Any] | None) -> dict[str, Any] | None:
    try:
        return send_window.normalize(window)
    except ValueError as exc:
        raise errors.send_window_invalid(str(exc)) from None


def update(
    db: Session, principal: Principal, reservation_id: int, changes: dict[str, Any]
) -> Reservation:
    """PATCH: ``senders`` (operators), ``script_id`` and ``send_window`` (the owning member)."""
    # null means "any time" for the send window only; elsewhere it is no change.
    changes = {k: v for k, v in changes.items() if v is not None or k == "send_window"}
    if not changes:
        raise AppError("nothing_to_change", "変更する項目を指定してください")
    # Another member's reservation does not exist, whatever the change asked for.
    reservation = visible(db, principal, reservation_id)
    if "senders" in changes:
        reservation = set_senders(
            db, access.operator_only(principal), reservation_id, changes["senders"]
        )
    if "script_id" in changes:
        reservation = change_script(db, principal, reservation_id, changes["script_id"])
    if "send_window" in changes:
        reservation = set_send_window(db, principal, reservation_id, changes["send_window"])
    return reservation


def set_send_window(
    db: Session, principal: Principal, reservation_id: int, window: dict[str, Any] | None
) -> Reservation:
    """The member sets the send window (JST; None: any time) while 申請中 or 一時停止; the
    dispatcher sends only inside it after the resume, and the history records it."""
    reservation = _own_reservation(db, principal, reservation_id)
    window = _window(window)
    if window != reservation.send_window:
        detail = f"（{send_window.describe(window)}）"
        _change_while_stopped(db, principal, reservation, "送信時間帯", detail)
        reservation.send_window = window
    return reservation


def change_script(
    db: Session, principal: Principal, reservation_id: int, script_id: int
) -> Reservation:
    """The member changes the reservation's script while 申請中 or 一時停止; every item not yet
    started sends with the new one (a job reads the reservation's script when it starts), and
    the history records the change."""
    reservation = _own_reservation(db, principal, reservation_id)
    _own_script(db, principal, script_id)
    if script_id == reservation.script_b_id:
        # A/B: the halves are told apart by the script their items went out with.
        raise errors.ab_scripts_same()
    if script_id != reservation.script_id:
        detail = f"（スクリプトID {reservation.script_id} → {script_id}）"
        _change_while_stopped(db, principal, reservation, "スクリプト", detail)
        reservation.script_id = script_id
    return reservation


def _own_reservation(db: Session, principal: Principal, reservation_id: int) -> Reservation:
    """The reservation, locked, if it is the principal's member's own (operators change
    capacity, not a member's script or send window)."""
    access.member_id_of(principal)
    access.own(principal, repository.get(db, reservation_id), "予約")
    return lock_reservation(db, reservation_id)


def _change_while_stopped(
    db: Session, principal: Principal, reservation: Reservation, what: str, detail: str
) -> None:
    """A change of ``what`` that only 申請中 or 一時停止 allow: refused otherwise, else recorded
    in the history (the caller then makes it, in this transaction)."""
    if reservation.status not in SCRIPT_CHANGE_STATUSES:
        raise errors.invalid_status(f"{what}を変更", reservation.status)
    reservation.updated_at = clock.now()
    lifecycle.record_history(
        db,
        reservation,
        actor_user_id=principal.user_id,
        reason=f"{what}を変更しました{detail}",
        from_status=reservation.status,
    )
    events.publish_after_commit(db, reservation)


# --- pause / resume / cancel ---------------------------------------------------------------------


def pause(
    db: Session, principal: Principal, reservation_id: int, *, remove_list: bool = False
) -> tuple[Reservation, int]:
    """approved → paused; with ``remove_list`` the queued items are removed as well (the first
    step of a list change; in-flight items finish cooperatively). A paused reservation can
    still have its list removed. Returns the reservation and how many items were removed."""
    reservation = _locked(db, principal, reservation_id)
    was_paused = reservation.status == _S.PAUSED
    if was_paused:
        if not remove_list:
            raise errors.already_paused()
    elif reservation.status == _S.APPROVED:
        reason = "一時停止しました（リストを削除）" if remove_list else "一時停止しました"
        lifecycle.change_status(
            db,
            reservation,
            _S.PAUSED,
            actor_user_id=principal.user_id,
            reason=reason,
            paused_by=PausedBy.OPERATOR if principal.is_operator else PausedBy.MEMBER,
        )
    else:
        raise errors.invalid_status("一時停止", reservation.status)
    removed = 0
    if remove_list:
        removed = lifecycle.cancel_queued_items(db, reservation)
        if was_paused and removed:
            lifecycle.record_history(
                db,
                reservation,
                actor_user_id=principal.user_id,
                reason=f"収集中リスト{removed:,}件を削除しました",
                from_status=reservation.status,
            )
    lifecycle.after_item_change(db, reservation)
    events.publish_after_commit(db, reservation)
    return reservation, removed


def resume(db: Session, principal: Principal, reservation_id: int) -> Reservation:
    """paused → approved. Refused with an empty queue: resuming would auto-cancel at once."""
    reservation = _locked(db, principal, reservation_id)
    if reservation.status != _S.PAUSED:
        raise errors.invalid_status("再開", reservation.status)
    if reservation.queued <= 0 and reservation.in_flight <= 0:
        raise errors.queue_empty()
    lifecycle.change_status(
        db, reservation, _S.APPROVED, actor_user_id=principal.user_id, reason="再開しました"
    )
    lifecycle.after_item_change(db, reservation)
    return reservation


def cancel(db: Session, principal: Principal, reservation_id: int) -> Reservation:
    """→ キャンセル: the queue is dropped and the unsent hold released (items in flight keep
    their ticket until they end; see shared.lifecycle)."""
    reservation = _locked(db, principal, reservation_id)
    if reservation.status not in OPEN_STATUSES:
        raise errors.invalid_status("キャンセル", reservation.status)
    who = "運営" if principal.is_operator else "会員"
    lifecycle.change_status(
        db,
        reservation,
        _S.CANCELLED,
        actor_user_id=principal.user_id,
        reason=f"{who}がキャンセルしました",
    )
    lifecycle.cancel_queued_items(db, reservation)
    lifecycle.release_unsent(db, reservation)
    lifecycle.reject_pending_additions(db, reservation)
    notify(
        db,
        kind=NotificationKind.RESERVATION_CANCELLED,
        title=f"予約No.{reservation.id}がキャンセルされました",
        body=f"{who}がキャンセルしました。送信済数{reservation.sent:,}件／予約件数{reservation.count:,}件。",
        member_id=reservation.member_id if principal.is_operator else None,
        for_operators=not principal.is_operator,
        reservation_id=reservation.id,
    )
    events.publish_after_commit(db, reservation)
    return reservation


# --- lists -------------------------------------------------------------------------------------


def transfer(
    db: Session,
    principal: Principal,
    reservation_id: int,
    *,
    list_url: str,
    count: int,
    script_id: int,
) -> ListTransfer:
    """送信代行: move up to ``count`` prospects of a search into the reservation's queue (add
    list, or the new list of a list change while paused). One script per reservation."""
    reservation = visible(db, principal, reservation_id)
    if not 1 <= count <= MAX_TRANSFER:
        raise errors.transfer_count_invalid(MAX_TRANSFER)
    if script_id != reservation.script_id:
        if principal.is_operator or reservation.status not in SCRIPT_CHANGE_STATUSES:
            if not principal.is_operator:
                _own_script(db, principal, script_id)  # another member's script: "not found"
            raise errors.script_mismatch(reservation.script_id)
        # A list moved in while 申請中 or 一時停止 with another script changes the script.
        change_script(db, principal, reservation_id, script_id)
    query = _parse_list(list_url)
    # The reservation's lock, then the member's (the order of shared.locks); the member's keeps
    # two lists of one member from taking the same prospects.
    reservation = lock_reservation(db, reservation_id)
    lock_member(db, reservation.member_id)
    if reservation.status not in OPEN_STATUSES:
        raise errors.invalid_status("リストを追加", reservation.status)
    added = _fill_queue(db, reservation, _candidates(db, query, reservation.member_id, count))
    row = ListTransfer(
        reservation_id=reservation.id,
        list_query=search.to_query_string(query),
        requested=count,
        added=added,
        created_by=principal.user_id,
        created_at=clock.now(),
    )
    db.add(row)
    reservation.updated_at = clock.now()
    db.flush()
    lifecycle.after_item_change(db, reservation)
    events.publish_after_commit(db, reservation)
    return row


# --- 予約数を追加 ----------------------------------------------------------------------------------


def request_addition(
    db: Session, principal: Principal, reservation_id: int, count: int
) -> ReservationAddition:
    """The member asks for ``count`` more sends; nothing is held until an operator approves."""
    member_id = access.member_id_of(principal)
    reservation = visible(db, principal, reservation_id)
    if count < RESERVATION_COUNT_STEP:
        raise errors.addition_count_below_minimum()
    if count % RESERVATION_COUNT_STEP:
        raise errors.addition_count_not_multiple()
    if reservation.status not in OPEN_STATUSES:
        raise errors.invalid_status("予約数を追加", reservation.status)
    available = ledger.balance(db, member_id).available
    if count > available:
        raise errors.count_exceeds_tickets(count, available)
    row = ReservationAddition(
        reservation_id=reservation.id,
        count=count,
        status=AdditionStatus.PENDING.value,
        requested_by=principal.user_id,
        created_at=clock.now(),
    )
    db.add(row)
    db.flush()
    notify(
        db,
        kind=NotificationKind.ADDITION_REQUESTED,
        title=f"予約数の追加申請があります（予約No.{reservation.id}・+{count:,}件）",
        for_operators=True,
        reservation_id=reservation.id,
        data={"addition_id": row.id, "count": count},
    )
    return row


def _decide_addition(
    db: Session, operator: Principal, addition_id: int
) -> tuple[ReservationAddition, Reservation]:
    addition = repository.lock_addition(db, addition_id)
    if addition is None:
        raise NotFound("予約数の追加")
    if addition.status != AdditionStatus.PENDING:
        raise errors.addition_not_pending()
    return addition, lock_reservation(db, addition.reservation_id)


def _decided(addition: ReservationAddition, operator: Principal, status: AdditionStatus) -> None:
    addition.status = status.value
    addition.decided_by = operator.user_id
    addition.decided_at = clock.now()


def approve_addition(db: Session, operator: Principal, addition_id: int) -> ReservationAddition:
    """The count grows and the tickets are held now (refused if they are no longer there)."""
    addition, reservation = _decide_addition(db, operator, addition_id)
    if reservation.status not in OPEN_STATUSES:
        raise errors.invalid_status("予約数を追加", reservation.status)
    try:
        ledger.hold(
            db,
            reservation.member_id,
            addition.count,
            reservation_id=reservation.id,
            addition_id=addition.id,
        )
    except ledger.InsufficientTickets as exc:
        raise errors.count_exceeds_tickets(addition.count, exc.available) from None
    _decided(addition, operator, AdditionStatus.APPROVED)
    before = reservation.count
    reservation.count += addition.count
    reservation.updated_at = clock.now()
    db.flush()
    lifecycle.record_history(
        db,
        reservation,
        actor_user_id=operator.user_id,
        reason=f"予約数の追加を承認しました（{before:,}件 → {reservation.count:,}件）",
        from_status=reservation.status,
    )
    notify(
        db,
        kind=NotificationKind.ADDITION_APPROVED,
        title=f"予約No.{reservation.id}の予約数の追加（+{addition.count:,}件）が承認されました",
        body=f"予約件数は{reservation.count:,}件になりました。",
        member_id=reservation.member_id,
        reservation_id=reservation.id,
        data={"addition_id": addition.id, "count": reservation.count},
    )
    lifecycle.after_item_change(db, reservation)
    events.publish_after_commit(db, reservation)
    return addition


def reject_addition(db: Session, operator: Principal, addition_id: int) -> ReservationAddition:
    addition, reservation = _decide_addition(db, operator, addition_id)
    _decided(addition, operator, AdditionStatus.REJECTED)
    db.flush()
    notify(
        db,
        kind=NotificationKind.ADDITION_REJECTED,
        title=f"予約No.{reservation.id}の予約数の追加（+{addition.count:,}件）は承認されませんでした",
        member_id=reservation.member_id,
        reservation_id=reservation.id,
        data={"addition_id": addition.id},
    )
    return addition
