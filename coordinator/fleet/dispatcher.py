"""The dispatcher: admission control for the sending fleet
(docs/architecture.md#one-send-from-reservation-to-ledger).

Each tick it reaps expired leases, keeps every approved reservation at ``senders − in_flight``
dispatched items (see :func:`shared.items.capacity`), optionally only inside the reservation's
send window, and enqueues one RQ job per claimed item *after* the claim committed. It also
re-dispatches items whose job Redis lost: the database is the ledger, RQ only the doorbell.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from coordinator.fleet import beats
from shared import clock, events, items, send_window
from shared.config import get_settings
from shared.db import transaction
from shared.enums import ItemState, ReservationStatus
from shared.jobs import SEND_JOB, SEND_QUEUE
from shared.models import Reservation, SendItem
from shared.redis_conn import get_redis

log = logging.getLogger(__name__)

# A dispatched item whose job is gone from Redis this long after dispatch was lost with Redis
# (flushed, restarted without persistence): give it a new token and a new job.
LOST_JOB_GRACE = timedelta(seconds=3)
JOB_TIMEOUT_S = 900  # far above the send deadline: the job enforces its own time limits
MIN_TICK_GAP_S = 0.1  # ticks woken by events: never more than 10 a second
_DONE_JOB_STATUSES = {b"finished", b"failed", b"stopped", b"canceled"}


def get_queue(connection: Redis | None = None) -> Queue:
    return Queue(SEND_QUEUE, connection=connection or get_redis(), serializer=JSONSerializer)


def job_id(item_id: int, token: str) -> str:
    return f"send-{item_id}-{token}"


def enqueue(queue: Queue, item_id: int, token: str) -> None:
    queue.enqueue(
        SEND_JOB,
        item_id,
        token,
        job_id=job_id(item_id, token),
        job_timeout=JOB_TIMEOUT_S,
        result_ttl=300,
        failure_ttl=24 * 3600,
        description=f"send item {item_id}",
    )


def in_send_window(window: dict[str, Any] | None, now: datetime) -> bool:
    """A reservation's optional send window, in Japan time (``shared.send_window``)."""
    return send_window.is_open(window, now)


def tick(
    db: Session | None = None, *, queue: Queue | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """One round of reaping, dispatching and lost-job recovery; each step its own transaction
    (on ``db``, or on a session of its own per step).

    Returns what happened: ``{"reaped": {...}, "dispatched": n, "redispatched": n, ...}``.
    """
    now = now or clock.now()
    queue = queue or get_queue()
    with transaction(db) as session:
        reaped = items.reap(session, now)

    # The plan is read in a transaction of its own: on SQLite each claim must begin with its
    # writer lock, before any read.
    with transaction(db) as session:
        plan = session.execute(
            select(
                Reservation.id,
                Reservation.senders,
                Reservation.in_flight,
                Reservation.count,
                Reservation.sent,
                Reservation.in_doubt,
                Reservation.queued,
                Reservation.send_window,
            )
            .where(Reservation.status == ReservationStatus.APPROVED.value)
            .order_by(Reservation.id)
        ).all()

    dispatched = 0
    outside_window = 0
    for rid, senders, in_flight, count, sent, in_doubt, queued, window in plan:
        if not in_send_window(window, now):
            outside_window += 1
            continue
        want = min(senders - in_flight, count - sent - in_flight - in_doubt, queued)
        if want <= 0:
            continue
        with transaction(db) as session:
            claimed = items.claim(session, rid, want, now=now)
        for item_id, token in claimed:
            enqueue(queue, item_id, token)
        dispatched += len(claimed)

    redispatched = _recover_lost_jobs(db, queue, now)
    return {
        "reaped": reaped,
        "reservations": len(plan),
        "outside_window": outside_window,
        "dispatched": dispatched,
        "redispatched": redispatched,
    }


def _recover_lost_jobs(db: Session | None, queue: Queue, now: datetime) -> int:
    with transaction(db) as session:
        waiting = session.execute(
            select(SendItem.id, SendItem.attempt_token).where(
                SendItem.state == ItemState.DISPATCHED.value,
                SendItem.dispatched_at < now - LOST_JOB_GRACE,
            )
        ).all()
    if not waiting:
        return 0
    pipe = queue.connection.pipeline(transaction=False)
    for item_id, token in waiting:
        pipe.hget(Job.key_for(job_id(item_id, token or "")), "status")
    statuses = pipe.execute()
    recovered = 0
    for (item_id, token), status in zip(waiting, statuses, strict=True):
        if token is None or (status is not None and status not in _DONE_JOB_STATUSES):
            continue
        with transaction(db) as session:
            new_token = items.redispatch(session, item_id, token, now=now)
        if new_token is not None:
            enqueue(queue, item_id, new_token)
            recovered += 1
            log.warning("item %s: job %s lost (status %s), re-dispatched", item_id, token, status)
    return recovered


class _Doorbell:
    """Wakes the dispatcher early when a reservation changes (an item finished, senders were
    raised, a reservation approved): every such commit publishes on ``mikomi:reservation:*``.
    Without Redis it degrades to the plain interval."""

    def __init__(self) -> None:
        self._pubsub: Any = None

    def wait(self, timeout: float) -> None:
        if timeout <= 0:
            return
        try:
            if self._pubsub is None:
                self._pubsub = get_redis().pubsub(ignore_subscribe_messages=True)
                self._pubsub.psubscribe(f"{events.CHANNEL_PREFIX}*")
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                if self._pubsub.get_message(timeout=left) is not None:
                    # drain what else arrived, then tick once for all of it
                    while self._pubsub.get_message(timeout=0) is not None:
                        pass
                    return
        except (RedisError, OSError):
            self.close()
            time.sleep(timeout)

    def close(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                self._pubsub.close()
            self._pubsub = None


def run_forever(interval_s: float = 1.0, stop: threading.Event | None = None) -> None:
    """Tick every ``interval_s`` — or sooner, when a reservation event rings — until
    SIGTERM/SIGINT (or ``stop`` is set)."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    settings = get_settings()
    log.info("dispatcher running (tick %.1fs, lease %ss)", interval_s, settings.lease_seconds)
    doorbell = _Doorbell()
    last_beat = 0.0
    try:
        while not stop.is_set():
            started = time.monotonic()
            if started - last_beat >= beats.BEAT_EVERY_S:
                beats.beat("dispatcher")
                last_beat = started
            try:
                tick()
            except (DBAPIError, RedisError, OSError) as exc:
                # The database or Redis is briefly away (SQLite busy, a restart): next tick.
                log.warning("dispatcher tick failed: %s", exc)
            except Exception:
                log.exception("dispatcher tick failed")
            # at least MIN_TICK_GAP_S between ticks, at most interval_s
            stop.wait(MIN_TICK_GAP_S)
            doorbell.wait(interval_s - (time.monotonic() - started))
    finally:
        doorbell.close()
        beats.forget("dispatcher")
