"""The send job's side (start, lease, the point of no return, the outcome) and the operators'
resolution of an in-doubt send."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from tenacity import RetryCallState, wait_exponential

from shared import labels, ledger, lifecycle, locks
from shared.enums import (
    FailReason,
    ItemState,
    ReservationStatus,
    ResponseKind,
    SendStatus,
    SkipReason,
)
from shared.items._machine import (
    after_change,
    contacted,
    finish_attempt,
    finish_item,
    fresh_item,
    lease_until,
    lock_item,
    move,
    now_or,
    release,
)
from shared.models import MemberContact, Reservation, Response, SendAttempt, SendItem
from shared.suppression import SuppressionReason, is_suppressed, suppress

log = logging.getLogger(__name__)

# Failures before `submitting` that say "try again later", not "this site cannot be done".
RETRYABLE_REASONS = frozenset(
    {FailReason.SITE_UNREACHABLE.value, FailReason.TIMEOUT.value, FailReason.HTTP_ERROR.value}
)
MAX_ATTEMPTS = 3  # the first try and two retries
# Backoff between tries of one item: 30 s, 60 s, … capped at 15 minutes (tenacity's own curve).
_BACKOFF = wait_exponential(multiplier=15, min=30, max=900)


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


def start(
    db: Session, item_id: int, token: str, worker_id: str, *, now: datetime | None = None
) -> SendItem | None:
    """dispatched → running for the holder of the current token; None means "do nothing".

    A stale or duplicate delivery (the token moved on, or the item already runs) gets None. An
    item whose reservation is no longer approved goes back to the queue (or is cancelled when
    the reservation is over) without being attempted.
    """
    now = now_or(now)
    locked = lock_item(db, item_id, token, (ItemState.DISPATCHED,))
    if locked is None:
        return None
    reservation, item = locked
    if reservation.status != ReservationStatus.APPROVED:
        release(db, reservation, item, now)
        after_change(db, reservation)
        return None
    move(reservation, item, ItemState.RUNNING.value)
    item.worker_id = worker_id
    item.lease_expires_at = lease_until(now)
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
    now = now_or(now)
    result = db.execute(
        update(SendItem)
        .where(
            SendItem.id == item_id,
            SendItem.attempt_token == token,
            SendItem.state.in_([ItemState.RUNNING.value, ItemState.SUBMITTING.value]),
        )
        .values(lease_expires_at=lease_until(now))
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def enter_submitting(db: Session, item_id: int, token: str, *, now: datetime | None = None) -> bool:
    """The point of no return, called right before the first click that can deliver.

    Re-checks the reservation (approved only), suppression (global and the member's NG list)
    and the duplicate guard — the ``member_contacts`` row (unique per member and domain) is
    inserted in the same transaction that sets ``submitting``. The caller commits that
    transaction *before* the click, whatever the answer: the send job runs this call as a
    transaction of its own. True: submit now. False: do not submit; the item has already been
    put where it belongs (back in the queue for a paused reservation, skipped as
    suppressed/duplicate, cancelled).
    """
    now = now_or(now)
    locked = lock_item(db, item_id, token, (ItemState.RUNNING,))
    if locked is None:
        return False
    reservation, item = locked
    ok = False
    if reservation.status != ReservationStatus.APPROVED:
        finish_attempt(db, item, token, None, "not_approved", now)
        release(db, reservation, item, now)
    elif is_suppressed(db, item.domain, item.member_id):
        finish_item(
            db, reservation, item, token, SendStatus.SKIPPED.value, SkipReason.SUPPRESSED.value, now
        )
    elif not _record_contact(db, item):
        finish_item(
            db, reservation, item, token, SendStatus.SKIPPED.value, SkipReason.DUPLICATE.value, now
        )
    else:
        move(reservation, item, ItemState.SUBMITTING.value)
        item.submitting_at = now
        # The script it goes out with stays on record (docs/rules.md#ab-scripts): a later
        # change of the reservation's script concerns unsent items only.
        if item.script_id is None:
            item.script_id = reservation.script_id
        item.lease_expires_at = lease_until(now)
        ok = True
    if not ok:
        after_change(db, reservation)
    return ok


def _record_contact(db: Session, item: SendItem) -> bool:
    """Insert the member's contact with this domain; False when it already exists."""
    if contacted(db, item):
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
    again (docs/rules.md#retries)."""
    if item.state != ItemState.RUNNING:
        raise ValueError(f"only a running item is retried, not a {item.state} one")
    now = now_or(now)
    finish_attempt(db, item, item.attempt_token, SendStatus.FAILED.value, reason, now)
    move(reservation, item, ItemState.QUEUED.value)
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
    now = now_or(now)
    locked = lock_item(db, item_id, token, (ItemState.RUNNING, ItemState.SUBMITTING))
    if locked is None:
        return None
    reservation, item = locked
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
        finish_attempt(db, item, token, None, "not_submitted", now)
        release(db, reservation, item, now)
        after_change(db, reservation)
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
        finish_item(db, reservation, item, token, status, reason, now, elapsed_ms)
        if status == SendStatus.SENT:
            ledger.consume(db, item.member_id, reservation_id=reservation.id, item_id=item.id)
        elif status == SendStatus.SKIPPED and reason == SkipReason.REFUSED_SALES:
            suppress(
                db,
                item.domain,
                reason=SuppressionReason.REFUSED_SALES,
                note=f"営業お断りの表示 (item {item.id})",
            )
        elif status == SendStatus.IN_DOUBT:
            # A form's automatic reply comes within seconds, often before the engine has given
            # up reading the page after the click: a mail that came first proves it all the same.
            proof = db.scalar(
                select(Response)
                .where(
                    Response.item_id == item.id,
                    Response.kind.in_((ResponseKind.AUTO_REPLY.value, ResponseKind.REPLY.value)),
                )
                .order_by(Response.id)
                .limit(1)
            )
            if proof is not None:
                resolve_in_doubt_by_mail(db, item.id, proof, now=now)
    after_change(db, reservation)
    if status == SendStatus.FAILED:
        lifecycle.auto_pause_on_errors(db, reservation, now)
    return item


def resolve_in_doubt_by_mail(
    db: Session, item_id: int, response: Response, *, now: datetime | None = None
) -> SendItem:
    """An ``in_doubt`` item that the site (or a person) answered by mail was delivered: resolved
    as ``sent`` by the system (``resolved_by`` None, one ticket consumed, as an operator's
    resolution would), the mail named in its evidence (docs/rules.md#responses). Whichever comes
    second — the mail or the outcome — resolves it. Raises ValueError unless it is in_doubt."""
    resolved = resolve_in_doubt(
        db,
        item_id,
        SendStatus.SENT,
        resolved_by=None,
        note=f"{labels.label(labels.RESPONSE_KIND, response.kind)}メールを受信 (反響 {response.id})",
        now=now,
    )
    evidence = dict(resolved.evidence or {})
    evidence["resolution"] = {**evidence.get("resolution", {}), "response_id": response.id}
    resolved.evidence = evidence
    log.info("item %s: in doubt, resolved as sent by response %s", item_id, response.id)
    return resolved


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
    now = now_or(now)
    if status not in (SendStatus.SENT, SendStatus.FAILED):
        raise ValueError("status must be sent or failed")
    if status == SendStatus.FAILED:
        reason = reason or FailReason.VALIDATION_ERROR.value
        if reason not in {r.value for r in FailReason}:
            raise ValueError(f"unknown failed reason {reason!r}")
    else:
        reason = None
    locks.writer_lock(db)
    item = fresh_item(db, item_id)
    if item is None:
        raise LookupError(item_id)
    reservation = locks.lock_reservation(db, item.reservation_id)
    item = fresh_item(db, item_id)
    if item is None or item.state != ItemState.IN_DOUBT:
        raise ValueError("only an in_doubt item can be resolved")
    move(reservation, item, status)
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
    after_change(db, reservation)
    return item
