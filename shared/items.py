"""Send items through the state machine of SPEC §3, with attempt tokens and leases.

``queued → dispatched → running → submitting → sent | failed | skipped | in_doubt``
(plus ``cancelled``, and ``queued`` again for a retry of a failure *before* submitting).

Who calls what:

* the dispatcher: :func:`claim_for_reservation` (queued → dispatched, a fresh attempt token and
  a lease), :func:`redispatch` (a dispatched item whose RQ job Redis lost), :func:`reap`;
* the send job: :func:`start` (dispatched → running), :func:`renew_lease`,
  :func:`enter_submitting` (the point of no return, committed before the final click) and
  :func:`record_outcome`;
* operators: :func:`resolve_in_doubt`.

Every change of an item's state locks its reservation row first (:func:`lock_reservation`) and
changes the reservation's counters in the same transaction, so counts cannot drift and two
writers (the dispatcher and a worker, say) cannot lose each other's counter updates. On SQLite
the lock is the database's single writer lock, taken by the transaction's *first* statement so
that no read snapshot goes stale before the write. Nothing here commits except
:func:`enter_submitting`, whose commit *is* the contract. Events are published after commit
through :func:`shared.events.publish_after_commit`.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from tenacity import RetryCallState, wait_exponential

from shared import clock, events, ledger, lifecycle
from shared.config import get_settings
from shared.enums import (
    ITEM_IN_FLIGHT,
    FailReason,
    ItemState,
    NotificationKind,
    ReservationStatus,
    SendStatus,
    SkipReason,
)
from shared.models import (
    MemberContact,
    Reservation,
    ReservationStatusChange,
    SendAttempt,
    SendItem,
)
from shared.rules import ERROR_PAUSE_WINDOW
from shared.suppression import SuppressionReason, is_suppressed, suppress

__all__ = [
    "AUTO_PAUSE_REASONS",
    "MAX_ATTEMPTS",
    "RETRYABLE_REASONS",
    "Outcome",
    "OutcomeLike",
    "capacity",
    "claim",
    "claim_for_reservation",
    "enter_submitting",
    "lock_reservation",
    "new_token",
    "reap",
    "record_outcome",
    "redispatch",
    "renew_lease",
    "requeue_for_retry",
    "resolve_in_doubt",
    "retry_delay",
    "start",
]

log = logging.getLogger(__name__)

IN_FLIGHT_STATES = tuple(s.value for s in ITEM_IN_FLIGHT)

# Failures before `submitting` that say "try again later", not "this site cannot be done".
RETRYABLE_REASONS = frozenset(
    {FailReason.SITE_UNREACHABLE.value, FailReason.TIMEOUT.value, FailReason.HTTP_ERROR.value}
)
MAX_ATTEMPTS = 3  # the first try and two retries
# Backoff between tries of one item: 30 s, 60 s, … capped at 15 minutes (tenacity's own curve).
_BACKOFF = wait_exponential(multiplier=15, min=30, max=900)

# Error-threshold auto-pause (SPEC §2 ERROR_PAUSE_WINDOW): when the last 20 attempts of a
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

# The dispatcher's claim is serialized across dispatcher processes on PostgreSQL with this
# transaction-level advisory lock (SKIP LOCKED alone cannot keep two claims off one domain).
_CLAIM_LOCK_KEY = 0x6D696B6F  # "miko"
_CLAIM_BATCH_EXTRA = 20


class OutcomeLike(Protocol):
    """What :func:`record_outcome` reads of ``worker.engine.SendResult`` (or :class:`Outcome`)."""

    @property
    def status(self) -> str: ...

    @property
    def reason(self) -> str | None: ...


@dataclasses.dataclass(frozen=True)
class Outcome:
    """An outcome the fleet decides itself (an engine crash, an operator's resolution)."""

    status: str
    reason: str | None = None
    contact_url: str | None = None
    final_url: str | None = None
    fields: tuple[Any, ...] = ()
    elapsed_ms: int | None = None
    evidence: Any = None
    submitted: bool = False


def new_token() -> str:
    return secrets.token_urlsafe(18)


def _now(now: datetime | None) -> datetime:
    return now if now is not None else clock.now()


def _lease(now: datetime) -> datetime:
    return now + timedelta(seconds=get_settings().lease_seconds)


def _is_sqlite(db: Session) -> bool:
    return db.get_bind().dialect.name == "sqlite"


def _take_sqlite_writer_lock(db: Session) -> None:
    # A no-op write takes SQLite's single writer lock at once (it waits on busy_timeout), so
    # the reads that follow see the latest commit and the writes cannot fail on a stale
    # snapshot. On PostgreSQL row locks do this job.
    if _is_sqlite(db):
        db.execute(text("UPDATE reservations SET id = id WHERE 0"))


def lock_reservation(db: Session, reservation_id: int) -> Reservation:
    """Lock the reservation row for this transaction and return it freshly loaded.

    Every writer of a reservation's counters (item changes here, pause/cancel/list changes in
    the reservation service) must hold this lock before reading the counters it will change.
    """
    _take_sqlite_writer_lock(db)
    stmt = select(Reservation).where(Reservation.id == reservation_id)
    if not _is_sqlite(db):
        stmt = stmt.with_for_update()
    return db.execute(stmt.execution_options(populate_existing=True)).scalar_one()


def _fresh_item(db: Session, item_id: int) -> SendItem | None:
    stmt = select(SendItem).where(SendItem.id == item_id)
    return db.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()


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


def _move(reservation: Reservation, item: SendItem, to_state: str) -> None:
    """Change the item's state and the reservation's counters together."""
    before = _COUNTER_OF_STATE.get(item.state)
    after = _COUNTER_OF_STATE.get(to_state)
    if before != after:
        if before is not None:
            setattr(reservation, before, getattr(reservation, before) - 1)
        if after is not None:
            setattr(reservation, after, getattr(reservation, after) + 1)
    item.state = to_state


def _after_change(db: Session, reservation: Reservation) -> None:
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


def _release_item(db: Session, reservation: Reservation, item: SendItem, now: datetime) -> None:
    """Back to queued (a paused reservation, an expired lease before submit) or cancelled (the
    reservation is over)."""
    if reservation.status in (
        ReservationStatus.COMPLETED,
        ReservationStatus.CANCELLED,
        ReservationStatus.AUTO_CANCELLED,
    ):
        _move(reservation, item, ItemState.CANCELLED.value)
        item.finished_at = now
    elif reservation.status == ReservationStatus.PAUSED and _list_removed_since(db, item):
        # 「現在のリストを送信担当者から削除」 while this item was out: it belonged to the removed
        # list, so it must not come back into the queue the member is about to refill.
        _move(reservation, item, ItemState.CANCELLED.value)
        item.finished_at = now
    else:
        _move(reservation, item, ItemState.QUEUED.value)
    item.attempt_token = None
    item.lease_expires_at = None
    item.worker_id = None


def _finish_attempt(
    db: Session,
    item: SendItem,
    token: str | None,
    status: str | None,
    reason: str | None,
    now: datetime,
    elapsed_ms: int | None = None,
) -> None:
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


# --- the dispatcher's side ----------------------------------------------------------------------


def capacity(reservation: Reservation) -> int:
    """How many more items the reservation may have in flight right now.

    ``senders − in_flight`` (admission control), and never more than could still be sent:
    ``count − sent − in_flight − in_doubt`` (an in-doubt item may yet be resolved as sent), so
    sent can never pass count however the items in flight end.
    """
    if reservation.status != ReservationStatus.APPROVED:
        return 0
    by_senders = reservation.senders - reservation.in_flight
    by_count = reservation.count - reservation.sent - reservation.in_flight - reservation.in_doubt
    return max(0, min(by_senders, by_count, reservation.queued))


def claim_for_reservation(
    db: Session,
    reservation: Reservation,
    n: int,
    worker_hint: str | None = None,
    *,
    now: datetime | None = None,
) -> list[tuple[int, str]]:
    """:func:`claim` for a reservation object (only its id is used; the row is re-read locked)."""
    return claim(db, reservation.id, n, worker_hint, now=now)


def claim(
    db: Session,
    reservation_id: int,
    n: int,
    worker_hint: str | None = None,
    *,
    now: datetime | None = None,
) -> list[tuple[int, str]]:
    """Claim up to ``n`` queued items of an approved reservation: queued → dispatched.

    ``n`` is further capped by :func:`capacity` as read under the reservation's lock. Skips
    items waiting out a retry backoff and items whose domain already has an item in flight
    anywhere in the fleet (and never claims two items of one domain at once). Items whose
    domain is suppressed or already contacted by the member are finished as skipped on the
    way (the before-dispatch check of SPEC §4). Returns ``(item_id, attempt_token)`` pairs; the
    caller commits and only then enqueues one job per pair. On SQLite call it first thing in a
    transaction (it takes the writer lock before reading).
    """
    now = _now(now)
    _take_sqlite_writer_lock(db)
    if not _is_sqlite(db):
        db.execute(select(func.pg_advisory_xact_lock(_CLAIM_LOCK_KEY)))
    reservation = lock_reservation(db, reservation_id)
    n = min(n, capacity(reservation))
    if n <= 0:
        return []
    busy = select(SendItem.domain).where(SendItem.state.in_(IN_FLIGHT_STATES))
    claimed: list[tuple[int, str]] = []
    taken_domains: set[str] = set()
    finished_any = False
    while len(claimed) < n:
        stmt = (
            select(SendItem)
            .where(
                SendItem.reservation_id == reservation.id,
                SendItem.state == ItemState.QUEUED.value,
                (SendItem.retry_at.is_(None)) | (SendItem.retry_at <= now),
                SendItem.domain.not_in(busy),
            )
            .order_by(SendItem.id)
            .limit(n - len(claimed) + _CLAIM_BATCH_EXTRA)
        )
        if taken_domains:
            stmt = stmt.where(SendItem.domain.not_in(taken_domains))
        if not _is_sqlite(db):
            stmt = stmt.with_for_update(skip_locked=True)
        candidates = list(db.scalars(stmt))
        if not candidates:
            break
        progressed = False
        for item in candidates:
            if len(claimed) >= n:
                break
            if item.domain in taken_domains:
                continue
            skip_reason = _pre_dispatch_skip(db, item)
            if skip_reason is not None:
                _move(reservation, item, ItemState.SKIPPED.value)
                item.reason = skip_reason
                item.finished_at = now
                finished_any = progressed = True
                continue
            token = new_token()
            _move(reservation, item, ItemState.DISPATCHED.value)
            item.attempt_token = token
            item.lease_expires_at = _lease(now)
            item.dispatched_at = now
            item.retry_at = None
            item.worker_id = worker_hint
            taken_domains.add(item.domain)
            claimed.append((item.id, token))
            progressed = True
        db.flush()
        if not progressed:
            break
    if claimed or finished_any:
        _after_change(db, reservation)
    return claimed


def _pre_dispatch_skip(db: Session, item: SendItem) -> str | None:
    if is_suppressed(db, item.domain, item.member_id):
        return SkipReason.SUPPRESSED.value
    contacted = db.scalar(
        select(MemberContact.id)
        .where(MemberContact.member_id == item.member_id, MemberContact.domain == item.domain)
        .limit(1)
    )
    if contacted is not None:
        return SkipReason.DUPLICATE.value
    return None


def redispatch(
    db: Session, item_id: int, old_token: str, *, now: datetime | None = None
) -> str | None:
    """A dispatched item whose job Redis lost: a fresh token and lease, for a fresh job.

    Conditional on the old token, so a worker that starts the old job at the same moment and
    this call cannot both win. Returns the new token, or None when the item moved on.
    """
    now = _now(now)
    token = new_token()
    result = db.execute(
        update(SendItem)
        .where(
            SendItem.id == item_id,
            SendItem.attempt_token == old_token,
            SendItem.state == ItemState.DISPATCHED.value,
        )
        .values(attempt_token=token, lease_expires_at=_lease(now), dispatched_at=now)
        .execution_options(synchronize_session=False)
    )
    return token if getattr(result, "rowcount", 0) == 1 else None


def reap(db: Session, now: datetime | None = None) -> dict[str, int]:
    """Expired leases: dispatched/running → queued (cancelled when the reservation is over);
    submitting → in_doubt (``unconfirmed``), never retried automatically."""
    now = _now(now)
    _take_sqlite_writer_lock(db)
    expired = db.execute(
        select(SendItem.id, SendItem.reservation_id).where(
            SendItem.state.in_(IN_FLIGHT_STATES), SendItem.lease_expires_at < now
        )
    ).all()
    by_reservation: dict[int, list[int]] = {}
    for item_id, reservation_id in expired:
        by_reservation.setdefault(reservation_id, []).append(item_id)
    counts = {"requeued": 0, "in_doubt": 0, "cancelled": 0}
    for reservation_id, item_ids in sorted(by_reservation.items()):
        reservation = lock_reservation(db, reservation_id)
        for item_id in item_ids:
            item = _fresh_item(db, item_id)
            if (
                item is None
                or item.state not in IN_FLIGHT_STATES
                or item.lease_expires_at is None
                or item.lease_expires_at >= now
            ):
                continue
            token = item.attempt_token
            if item.state == ItemState.SUBMITTING.value:
                _move(reservation, item, ItemState.IN_DOUBT.value)
                item.reason = "unconfirmed"
                item.finished_at = now
                item.lease_expires_at = None
                item.attempt_token = None
                _finish_attempt(db, item, token, SendStatus.IN_DOUBT.value, "unconfirmed", now)
                counts["in_doubt"] += 1
            else:
                _finish_attempt(db, item, token, None, "lease_expired", now)
                _release_item(db, reservation, item, now)
                counts["cancelled" if item.state == ItemState.CANCELLED else "requeued"] += 1
        _after_change(db, reservation)
    return counts


# --- the send job's side --------------------------------------------------------------------------


def start(
    db: Session, item_id: int, token: str, worker_id: str, *, now: datetime | None = None
) -> SendItem | None:
    """dispatched → running for the holder of the current token; None means "do nothing".

    A stale or duplicate delivery (the token moved on, or the item already runs) gets None. An
    item whose reservation is no longer approved goes back to the queue (or is cancelled when
    the reservation is over) without being attempted.
    """
    now = _now(now)
    _take_sqlite_writer_lock(db)
    item = _fresh_item(db, item_id)
    if item is None or item.attempt_token != token or item.state != ItemState.DISPATCHED:
        return None
    reservation = lock_reservation(db, item.reservation_id)
    item = _fresh_item(db, item_id)
    if item is None or item.attempt_token != token or item.state != ItemState.DISPATCHED:
        return None
    if reservation.status != ReservationStatus.APPROVED:
        _release_item(db, reservation, item, now)
        _after_change(db, reservation)
        return None
    _move(reservation, item, ItemState.RUNNING.value)
    item.worker_id = worker_id
    item.lease_expires_at = _lease(now)
    item.attempts += 1
    db.add(
        SendAttempt(
            item_id=item.id,
            reservation_id=item.reservation_id,
            attempt_token=token,
            worker_id=worker_id,
            started_at=now,
        )
    )
    db.flush()
    return item


def renew_lease(db: Session, item_id: int, token: str, *, now: datetime | None = None) -> bool:
    """Extend the lease of a running or submitting item; False when the token moved on."""
    now = _now(now)
    result = db.execute(
        update(SendItem)
        .where(
            SendItem.id == item_id,
            SendItem.attempt_token == token,
            SendItem.state.in_([ItemState.RUNNING.value, ItemState.SUBMITTING.value]),
        )
        .values(lease_expires_at=_lease(now))
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def enter_submitting(db: Session, item_id: int, token: str, *, now: datetime | None = None) -> bool:
    """The point of no return, called right before the first click that can deliver.

    Re-checks the reservation (approved only), suppression (global and the member's NG list)
    and the duplicate guard — the ``member_contacts`` row (unique per member and domain) is
    inserted in the same transaction that sets ``submitting``. Commits in every case. True:
    submit now. False: do not submit; the item has already been put where it belongs (back
    in the queue for a paused reservation, skipped as suppressed/duplicate, cancelled).
    """
    now = _now(now)
    _take_sqlite_writer_lock(db)
    item = _fresh_item(db, item_id)
    if item is None or item.attempt_token != token or item.state != ItemState.RUNNING:
        db.commit()
        return False
    reservation = lock_reservation(db, item.reservation_id)
    item = _fresh_item(db, item_id)
    if item is None or item.attempt_token != token or item.state != ItemState.RUNNING:
        db.commit()
        return False
    ok = False
    if reservation.status != ReservationStatus.APPROVED:
        _finish_attempt(db, item, token, None, "not_approved", now)
        _release_item(db, reservation, item, now)
    elif is_suppressed(db, item.domain, item.member_id):
        _finish_item(
            db, reservation, item, token, SendStatus.SKIPPED.value, SkipReason.SUPPRESSED.value, now
        )
    elif not _record_contact(db, item):
        _finish_item(
            db, reservation, item, token, SendStatus.SKIPPED.value, SkipReason.DUPLICATE.value, now
        )
    else:
        _move(reservation, item, ItemState.SUBMITTING.value)
        item.submitting_at = now
        item.lease_expires_at = _lease(now)
        ok = True
    if not ok:
        _after_change(db, reservation)
    db.commit()
    return ok


def _record_contact(db: Session, item: SendItem) -> bool:
    """Insert the member's contact with this domain; False when it already exists."""
    exists = db.scalar(
        select(MemberContact.id)
        .where(MemberContact.member_id == item.member_id, MemberContact.domain == item.domain)
        .limit(1)
    )
    if exists is not None:
        return False
    try:
        with db.begin_nested():
            db.add(
                MemberContact(
                    member_id=item.member_id,
                    domain=item.domain,
                    prospect_id=item.prospect_id,
                    item_id=item.id,
                )
            )
            db.flush()
    except IntegrityError:
        return False
    return True


def _finish_item(
    db: Session,
    reservation: Reservation,
    item: SendItem,
    token: str | None,
    status: str,
    reason: str | None,
    now: datetime,
    elapsed_ms: int | None = None,
) -> None:
    _move(reservation, item, status)
    item.reason = reason
    item.finished_at = now
    item.attempt_token = None
    item.lease_expires_at = None
    _finish_attempt(db, item, token, status, reason, now, elapsed_ms)


def retry_delay(attempt_number: int) -> timedelta:
    """The backoff before try ``attempt_number + 1`` (tenacity's exponential curve)."""
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt_number
    return timedelta(seconds=_BACKOFF(state))


def requeue_for_retry(
    db: Session,
    reservation: Reservation,
    item: SendItem,
    *,
    reason: str,
    now: datetime | None = None,
) -> None:
    """Back to the queue after a failure *before* submitting, to be retried after a backoff.

    Never for an item that reached ``submitting``: what may have been delivered is never sent
    again (SPEC §3)."""
    if item.state != ItemState.RUNNING:
        raise ValueError(f"only a running item is retried, not a {item.state} one")
    now = _now(now)
    _finish_attempt(db, item, item.attempt_token, SendStatus.FAILED.value, reason, now)
    _move(reservation, item, ItemState.QUEUED.value)
    item.reason = reason  # the last failure, shown while the item waits
    item.retry_at = now + retry_delay(item.attempts)
    item.attempt_token = None
    item.lease_expires_at = None
    item.worker_id = None


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _evidence(result: OutcomeLike, worker_id: str | None) -> dict[str, Any]:
    fields: Iterable[Any] = getattr(result, "fields", ()) or ()
    return {
        "contact_url": getattr(result, "contact_url", None),
        "final_url": getattr(result, "final_url", None),
        "fields": _jsonable(list(fields)),
        "elapsed_ms": getattr(result, "elapsed_ms", None),
        "submitted": bool(getattr(result, "submitted", False)),
        "worker_id": worker_id,
        "files": _jsonable(getattr(result, "evidence", None)),
    }


def record_outcome(
    db: Session, item_id: int, token: str, result: OutcomeLike, *, now: datetime | None = None
) -> SendItem | None:
    """The end of an attempt, in one transaction: the item's final state, reason and evidence,
    the reservation's counters, one ticket consumed for ``sent`` only, the reservation's
    lifecycle rules and the error-threshold auto-pause. A failure before ``submitting`` with a
    retryable reason goes back to the queue (with backoff) instead, up to :data:`MAX_ATTEMPTS`.
    Returns None when the token no longer holds the item (the attempt was reaped meanwhile).
    """
    now = _now(now)
    _take_sqlite_writer_lock(db)
    item = _fresh_item(db, item_id)
    if item is None or item.attempt_token != token:
        return None
    reservation = lock_reservation(db, item.reservation_id)
    item = _fresh_item(db, item_id)
    if item is None or item.attempt_token != token:
        return None
    if item.state not in (ItemState.RUNNING, ItemState.SUBMITTING):
        return None
    status, reason = str(result.status), result.reason
    elapsed_ms = getattr(result, "elapsed_ms", None)
    item.contact_url = getattr(result, "contact_url", None) or item.contact_url
    item.final_url = getattr(result, "final_url", None) or item.final_url
    item.evidence = _evidence(result, item.worker_id)
    submitted = item.state == ItemState.SUBMITTING
    if not submitted and status in (SendStatus.SENT, SendStatus.IN_DOUBT):
        # The engine submitted without asking first: a contract breach, but the prospect may
        # have the message, so it counts as contacted all the same.
        log.error("item %s was submitted without before_submit", item.id)
        _record_contact(db, item)
    if not submitted and status == ItemState.CANCELLED:
        # The engine stopped before submitting although the item still holds its token (its
        # before_submit could not reach the database): nothing was sent, queue it again.
        _finish_attempt(db, item, token, None, "not_submitted", now)
        _release_item(db, reservation, item, now)
        _after_change(db, reservation)
        return item
    if (
        not submitted
        and status == SendStatus.FAILED
        and reason in RETRYABLE_REASONS
        and item.attempts < MAX_ATTEMPTS
        and reservation.status == ReservationStatus.APPROVED
    ):
        requeue_for_retry(db, reservation, item, reason=reason, now=now)
    else:
        _finish_item(db, reservation, item, token, status, reason, now, elapsed_ms)
        if status == SendStatus.SENT:
            ledger.consume(db, item.member_id, reservation_id=reservation.id, item_id=item.id)
        elif status == SendStatus.SKIPPED and reason == SkipReason.REFUSED_SALES:
            suppress(
                db,
                item.domain,
                reason=SuppressionReason.REFUSED_SALES,
                note=f"営業お断りの表示 (item {item.id})",
            )
    _after_change(db, reservation)
    if status == SendStatus.FAILED:
        _auto_pause_on_errors(db, reservation, now)
    return item


def _auto_pause_on_errors(db: Session, reservation: Reservation, now: datetime) -> bool:
    if reservation.status != ReservationStatus.APPROVED:
        return False
    since = db.scalar(
        select(func.max(ReservationStatusChange.at)).where(
            ReservationStatusChange.reservation_id == reservation.id,
            ReservationStatusChange.to_status == ReservationStatus.APPROVED.value,
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
    from shared.notify import notify

    why = f"直近{ERROR_PAUSE_WINDOW}件の送信がすべて同じ理由（{reason}）で失敗したため自動で一時停止しました"
    lifecycle.change_status(
        db, reservation, ReservationStatus.PAUSED.value, actor_user_id=None, reason=why
    )
    for member_id, for_operators in ((reservation.member_id, False), (None, True)):
        notify(
            db,
            kind=NotificationKind.AUTO_PAUSED.value,
            title=f"予約No.{reservation.id}を自動で一時停止しました",
            body=why + "。スクリプトや送信環境をご確認のうえ、再開してください。",
            member_id=member_id,
            for_operators=for_operators,
            reservation_id=reservation.id,
            data={"reason": reason, "window": ERROR_PAUSE_WINDOW},
        )
    events.publish_after_commit(db, reservation)
    log.warning("reservation %s auto-paused: %s", reservation.id, why)
    return True


# --- operators ------------------------------------------------------------------------------------


def resolve_in_doubt(
    db: Session,
    item_id: int,
    status: str,
    *,
    resolved_by: int | None,
    note: str = "",
    reason: str | None = None,
    now: datetime | None = None,
) -> SendItem:
    """An operator looked at the evidence of an ``in_doubt`` item: it was ``sent`` (one ticket
    consumed) or it ``failed`` (``reason`` from the failed vocabulary, default
    ``validation_error``: the site did not take the message). Raises ValueError otherwise."""
    now = _now(now)
    if status not in (SendStatus.SENT, SendStatus.FAILED):
        raise ValueError("status must be sent or failed")
    if status == SendStatus.FAILED:
        reason = reason or FailReason.VALIDATION_ERROR.value
        if reason not in {r.value for r in FailReason}:
            raise ValueError(f"unknown failed reason {reason!r}")
    else:
        reason = None
    _take_sqlite_writer_lock(db)
    item = _fresh_item(db, item_id)
    if item is None:
        raise LookupError(item_id)
    reservation = lock_reservation(db, item.reservation_id)
    item = _fresh_item(db, item_id)
    if item is None or item.state != ItemState.IN_DOUBT:
        raise ValueError("only an in_doubt item can be resolved")
    _move(reservation, item, status)
    item.reason = reason
    item.resolved_by = resolved_by
    evidence = dict(item.evidence or {})
    evidence["resolution"] = {
        "status": status,
        "reason": reason,
        "note": note,
        "by": resolved_by,
        "at": now.isoformat(),
    }
    item.evidence = evidence
    if status == SendStatus.SENT:
        ledger.consume(db, item.member_id, reservation_id=reservation.id, item_id=item.id)
    _after_change(db, reservation)
    return item
