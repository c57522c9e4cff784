"""Live reservation events: after each commit, the reservation's counters go to Redis pub/sub.

The database is the ledger; an event is only a doorbell that says "this reservation changed,
here are its counters as committed". A lost event costs a browser one update, never a count:
subscribers (the SSE endpoint) re-read the database on every event they get. Publishing never
raises — Redis is disposable.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy.orm import Session

from shared import clock, labels
from shared.db import after_commit
from shared.models import Reservation
from shared.redis_conn import get_redis

__all__ = [
    "CHANNEL_PREFIX",
    "channel",
    "counters",
    "publish_after_commit",
    "publish_reservation_event",
]

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "mikomi:reservation:"


def channel(reservation_id: int) -> str:
    return f"{CHANNEL_PREFIX}{reservation_id}"


def counters(reservation: Reservation) -> dict[str, Any]:
    """The reservation's live counters, as the event payload carries them."""
    return {
        "reservation_id": reservation.id,
        "status": reservation.status,
        "status_ja": labels.reservation_status(reservation.status, reservation.paused_by),
        "paused_by": reservation.paused_by,
        "count": reservation.count,
        "senders": reservation.senders,
        "sent": reservation.sent,
        "queued": reservation.queued,
        "in_flight": reservation.in_flight,
        "failed": reservation.failed,
        "skipped": reservation.skipped,
        "in_doubt": reservation.in_doubt,
        # 反響 (docs/rules.md#responses)
        "auto_replies": reservation.auto_replies,
        "replies": reservation.replies,
        "refusals": reservation.refusals,
        "clicks": reservation.clicks,
    }


def publish_reservation_event(reservation_id: int, payload: dict[str, Any]) -> bool:
    """Publish one event on ``mikomi:reservation:{id}``; False (logged) when Redis is away."""
    body = dict(payload)
    body.setdefault("reservation_id", reservation_id)
    body.setdefault("ts", clock.now().timestamp())
    try:
        get_redis().publish(channel(reservation_id), json.dumps(body, ensure_ascii=False))
    except Exception:  # Redis is disposable; the next change or the SSE poll catches up
        log.warning("could not publish event of reservation %s", reservation_id, exc_info=True)
        return False
    return True


class _Publisher:
    """One after-commit hook per transaction, publishing each changed reservation once."""

    def __init__(self) -> None:
        self.reservations: dict[int, Reservation] = {}

    def __call__(self) -> None:
        for rid, row in self.reservations.items():
            publish_reservation_event(rid, counters(row))


def publish_after_commit(db: Session, reservation: Reservation) -> None:
    """Publish the reservation's counters once this transaction commits (once per transaction
    and reservation); a rolled-back change never publishes (``shared.db.after_commit``)."""
    publisher = after_commit(db, _Publisher(), key="events.publish")
    publisher.reservations[reservation.id] = reservation
