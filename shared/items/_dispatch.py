"""The dispatcher's side: claim queued items, re-dispatch lost jobs, reap expired leases."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared import locks
from shared.enums import FailReason, ItemState, ReservationStatus, SendStatus, SkipReason
from shared.items._attempt import MAX_ATTEMPTS, requeue_for_retry
from shared.items._machine import (
    IN_FLIGHT_STATES,
    after_change,
    contacted,
    finish_attempt,
    finish_item,
    fresh_item,
    lease_until,
    move,
    new_token,
    now_or,
    release,
)
from shared.models import Reservation, SendItem
from shared.suppression import is_suppressed

_CLAIM_BATCH_EXTRA = 20


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
    way (the before-dispatch check, docs/rules.md#suppression). Returns ``(item_id, attempt_token)``
    pairs; the caller commits and only then enqueues one job per pair. On SQLite call it first
    thing in a transaction (it takes the writer lock before reading).
    """
    now = now_or(now)
    locks.claim_lock(db)
    reservation = locks.lock_reservation(db, reservation_id)
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
            .with_for_update(skip_locked=True)
        )
        if taken_domains:
            stmt = stmt.where(SendItem.domain.not_in(taken_domains))
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
                move(reservation, item, ItemState.SKIPPED.value)
                item.reason = skip_reason
                item.finished_at = now
                finished_any = progressed = True
                continue
            token = new_token()
            move(reservation, item, ItemState.DISPATCHED.value)
            item.attempt_token = token
            item.lease_expires_at = lease_until(now)
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
        after_change(db, reservation)
    return claimed


def _pre_dispatch_skip(db: Session, item: SendItem) -> str | None:
    if is_suppressed(db, item.domain, item.member_id):
        return SkipReason.SUPPRESSED.value
    if contacted(db, item):
        return SkipReason.DUPLICATE.value
    return None


def redispatch(
    db: Session, item_id: int, old_token: str, *, now: datetime | None = None
) -> str | None:
    """A dispatched item whose job Redis lost: a fresh token and lease, for a fresh job.

    Conditional on the old token, so a worker that starts the old job at the same moment and
    this call cannot both win. Returns the new token, or None when the item moved on.
    """
    now = now_or(now)
    token = new_token()
    result = db.execute(
        update(SendItem)
        .where(
            SendItem.id == item_id,
            SendItem.attempt_token == old_token,
            SendItem.state == ItemState.DISPATCHED.value,
        )
        .values(attempt_token=token, lease_expires_at=lease_until(now), dispatched_at=now)
        .execution_options(synchronize_session=False)
    )
    return token if getattr(result, "rowcount", 0) == 1 else None


def reap(db: Session, now: datetime | None = None) -> dict[str, int]:
    """Expired leases: dispatched → queued (cancelled when the reservation is over); running →
    queued for a retry after a backoff, or failed/timeout once it has had MAX_ATTEMPTS
    attempts; submitting → in_doubt (``unconfirmed``), never retried automatically."""
    now = now_or(now)
    locks.writer_lock(db)
    expired = db.execute(
        select(SendItem.id, SendItem.reservation_id).where(
            SendItem.state.in_(IN_FLIGHT_STATES), SendItem.lease_expires_at < now
        )
    ).all()
    by_reservation: dict[int, list[int]] = {}
    for item_id, reservation_id in expired:
        by_reservation.setdefault(reservation_id, []).append(item_id)
    counts = {"requeued": 0, "in_doubt": 0, "cancelled": 0, "failed": 0}
    for reservation_id, item_ids in sorted(by_reservation.items()):
        reservation = locks.lock_reservation(db, reservation_id)
        for item_id in item_ids:
            item = fresh_item(db, item_id)
            if (
                item is None
                or item.state not in IN_FLIGHT_STATES
                or item.lease_expires_at is None
                or item.lease_expires_at >= now
            ):
                continue
            token = item.attempt_token
            if item.state == ItemState.SUBMITTING.value:
                move(reservation, item, ItemState.IN_DOUBT.value)
                item.reason = "unconfirmed"
                item.finished_at = now
                item.lease_expires_at = None
                item.attempt_token = None
                finish_attempt(db, item, token, SendStatus.IN_DOUBT.value, "unconfirmed", now)
                counts["in_doubt"] += 1
            elif (
                item.state == ItemState.RUNNING.value
                and reservation.status == ReservationStatus.APPROVED
            ):
                # An attempt was under way and its worker went silent: that counts as an
                # attempt, so a page that kills (or hangs) every worker that opens it ends
                # failed/timeout after MAX_ATTEMPTS instead of going round for ever.
                if item.attempts >= MAX_ATTEMPTS:
                    finish_item(
                        db,
                        reservation,
                        item,
                        token,
                        SendStatus.FAILED.value,
                        FailReason.TIMEOUT.value,
                        now,
                    )
                    counts["failed"] += 1
                else:
                    requeue_for_retry(db, reservation, item, reason=FailReason.TIMEOUT, now=now)
                    counts["requeued"] += 1
            else:
                finish_attempt(db, item, token, None, "lease_expired", now)
                release(db, reservation, item, now)
                counts["cancelled" if item.state == ItemState.CANCELLED else "requeued"] += 1
        after_change(db, reservation)
    return counts
