"""The sweeper (``mikomi sweeper``): the time-based rules, applied every few seconds
(docs/rules.md#auto-cancel, docs/rules.md#tickets).

Each rule runs in its own transaction, so one failing rule (an SMTP outage, say) does not hold
back the others, and each is safe to run from two sweepers at once (they lock what they change).

* paused for more than 12 hours → 自動キャンセル (:func:`shared.lifecycle.auto_cancel_stale_pauses`);
* unpaid ticket orders past their due date → 期限切れ
  (:func:`coordinator.tickets.service.expire_overdue`);
* prospect imports whose progress stopped for 10 minutes (their import worker died) → enqueued
  again to resume, or failed with the reason in their report
  (:func:`coordinator.prospects.import_jobs.resume_or_fail_interrupted`);
* sessions and API tokens past their expiry → deleted
  (:func:`coordinator.accounts.service.purge_expired_tokens`);
* notifications not yet e-mailed → SMTP (:func:`shared.notify.deliver_pending_mail`).

The clock is injectable: ``run_once(now)`` applies the rules as of ``now`` (tests move time
with ``shared.clock``).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from coordinator.accounts import service as accounts
from coordinator.fleet import beats
from coordinator.prospects import import_jobs
from coordinator.tickets import service as tickets_service
from shared import clock, lifecycle
from shared.config import get_settings
from shared.db import transaction
from shared.notify import deliver_pending_mail

__all__ = ["RULES", "run_forever", "run_once"]

log = logging.getLogger(__name__)


def _pause_auto_cancel(db: Session, now: datetime) -> int:
    return lifecycle.auto_cancel_stale_pauses(db, now)


def _order_expiry(db: Session, now: datetime) -> int:
    return tickets_service.expire_overdue(db, now)


def _import_interrupted(db: Session, now: datetime) -> int:
    return import_jobs.resume_or_fail_interrupted(db, now)


def _expired_tokens(db: Session, now: datetime) -> int:
    return accounts.purge_expired_tokens(db, now)


def _mail(db: Session, _now: datetime) -> int:
    return deliver_pending_mail(db, get_settings())


RULES: tuple[tuple[str, Callable[[Session, datetime], int]], ...] = (
    ("paused_auto_cancelled", _pause_auto_cancel),
    ("orders_expired", _order_expiry),
    ("imports_interrupted", _import_interrupted),
    ("tokens_purged", _expired_tokens),
    # Last, so that the mail of this tick's auto-cancels goes out in the same tick.
    ("mails_sent", _mail),
)


def run_once(now: datetime | None = None, *, db: Session | None = None) -> dict[str, int]:
    """Apply every time-based rule once as of ``now``; returns what each rule did.

    With ``db`` the rules run in that session (committed after each rule); otherwise each
    rule gets a session of its own. A rule that fails is logged, rolled back and reported as
    ``-1``; the others still run.
    """
    now = now or clock.now()
    result: dict[str, int] = {}
    for name, rule in RULES:
        try:
            with transaction(db) as session:
                result[name] = rule(session, now)
        except Exception:
            log.exception("sweeper rule %s failed", name)
            result[name] = -1
    return result


def run_forever(interval_s: float = 5.0, stop_event: threading.Event | None = None) -> None:
    """Run :func:`run_once` every ``interval_s`` until SIGTERM/SIGINT (or ``stop_event``)."""
    stop = stop_event or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    log.info("sweeper running (every %.1fs)", interval_s)
    try:
        while not stop.is_set():
            started = time.monotonic()
            beats.beat("sweeper")
            done = run_once()
            if any(done.values()):
                log.info("sweeper: %s", done)
            stop.wait(max(0.0, interval_s - (time.monotonic() - started)))
    finally:
        beats.forget("sweeper")
