"""The send job, ``worker.jobs.send_item(item_id, attempt_token)`` (RQ, JSON serializer).

The job takes ids, reloads its row and verifies its token before doing anything: a token that
no longer holds the item (RQ delivered the job twice, the lease was reaped and the item
re-dispatched, Redis was flushed and the job re-made) makes the job a no-op. Then:

1. ``start`` — dispatched → running (the reservation must still be approved);
2. the form engine (``worker.engine.Sender``, one browser per browser slot of the worker
   process, kept across jobs) visits the site, finds and fills the form;
3. right before the first click that can deliver, ``before_submit`` runs ``enter_submitting``
   as a transaction of its own, so ``submitting`` is committed before the click (re-checking
   the reservation, suppression and the duplicate guard) — or it says no;
4. ``record_outcome`` — the final state, counters, ledger and lifecycle in one transaction;
   the event is published after that commit.

A lease-renewing thread runs while the engine works, so only a dead process lets a lease
expire; the reaper then requeues the item, or marks it ``in_doubt`` if it was submitting.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from shared import items, logs, tracking
from shared.config import get_settings
from shared.db import transaction
from shared.enums import FailReason, SendStatus
from shared.evidence_store import EvidenceStore, get_store
from shared.models import Reservation, Script
from worker import green, heartbeat

log = logging.getLogger(__name__)

T = TypeVar("T")

# Each thread that runs sends (a browser slot of worker.rq_worker.SlotWorker) keeps its own
# engine: a Playwright instance belongs to the thread that started it.
_local = threading.local()


@dataclass(frozen=True)
class _Work:
    item_id: int
    reservation_id: int
    url: str
    company: str
    script: dict[str, Any]
    optout_url: str


def worker_id() -> str:
    if not heartbeat.STATUS.worker_id:
        heartbeat.STATUS.worker_id = os.environ.get("MIKOMI_WORKER_ID") or (
            heartbeat.default_worker_id()
        )
    return heartbeat.STATUS.worker_id


def _new_sender() -> Any:
    # MIKOMI_SENDER_FACTORY="module:callable" swaps the engine (the fleet benchmark's light
    # path); by default it is the real browser engine.
    spec = os.environ.get("MIKOMI_SENDER_FACTORY", "worker.engine:Sender")
    module, _, name = spec.partition(":")
    factory = getattr(importlib.import_module(module), name)
    return factory()


_host: green.BrowserHost | None = None
_host_lock = threading.Lock()


def _shared() -> bool:
    """Sends run on the process's browser host (not with a swapped engine)."""
    return get_settings().worker_shared_browser and "MIKOMI_SENDER_FACTORY" not in os.environ


def _shared_sender() -> green.HostedSender:
    global _host
    with _host_lock:
        if _host is None or not _host.alive:
            _host = green.BrowserHost(_new_sender).start()
        return green.HostedSender(_host, on_stuck=partial(_kill_browser, _host))


def _kill_browser(host: green.BrowserHost) -> None:
    """A send on ``host`` never ended: kill its browser (every call pending in it fails)."""
    log.error("killed the browser host's browser: %s", host.engine.driver.kill_browser())


def warm_up() -> None:
    """Start the process's browser host now (with ``worker_shared_browser``), so that the
    first send does not wait for Playwright and Chromium to start; a failure is logged, and
    the first send tries again."""
    if _shared():
        try:
            _shared_sender()
        except Exception:
            log.warning(
                "starting the browser host failed; the first send tries again", exc_info=True
            )


def close_host() -> None:
    """Close the process's browser host, if it has one (the worker's end)."""
    global _host
    with _host_lock:
        host, _host = _host, None
    if host is not None:
        host.close()


def get_sender() -> Any:
    """This thread's engine, started on first use and kept for every following job: with
    ``worker_shared_browser`` a handle on the process's browser host."""
    if _shared():
        return _shared_sender()
    sender = getattr(_local, "sender", None)
    if sender is None:
        sender = _new_sender()
        enter = getattr(sender, "__enter__", None)
        sender = enter() if enter is not None else sender
        _local.sender = sender
    return sender


def close_sender() -> None:
    """Close this thread's engine (the next job of the thread starts a fresh one)."""
    sender, _local.sender = getattr(_local, "sender", None), None
    if sender is not None:
        try:
            exit_ = getattr(sender, "__exit__", None)
            if exit_ is not None:
                exit_(None, None, None)
        except Exception:
            log.warning("closing the engine failed", exc_info=True)


@retry(
    retry=retry_if_exception_type(OperationalError),
    stop=stop_after_attempt(6),
    wait=wait_exponential(multiplier=0.2, max=3),
    reraise=True,
)
def _in_transaction(fn: Callable[[Session], T]) -> T:
    """Run one step of the job as a transaction of its own (``shared.db.transaction``).

    Retried on operational errors (SQLite busy, a PostgreSQL deadlock or restart): every step
    of the job is idempotent under its token, so a retry after an unknown commit is safe.
    """
    with transaction() as db:
        return fn(db)


def _begin(item_id: int, token: str) -> _Work | None:
    def step(db: Session) -> _Work | None:
        item = items.start(db, item_id, token, worker_id())
        if item is None:
            return None
        reservation = db.get(Reservation, item.reservation_id)
        # An A/B item names its script; the others send with the reservation's (which a
        # member may have changed while paused).
        script_id = item.script_id or (reservation.script_id if reservation else None)
        script = db.get(Script, script_id) if script_id else None
        settings = get_settings()
        base = settings.public_base_url.rstrip("/")
        return _Work(
            item_id=item.id,
            reservation_id=item.reservation_id,
            url=item.url,
            company=item.company,
            script=tracking.message_script(
                db,
                item,
                script.content,
                reply_domain=settings.reply_domain,
                public_base_url=base,
            )
            if script
            else {},
            optout_url=f"{base}/optout/{item.optout_token}",
        )

    return _in_transaction(step)


class _LeaseRenewer:
    def __init__(self, item_id: int, token: str) -> None:
        self.item_id, self.token = item_id, token
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease", daemon=True)

    def _run(self) -> None:
        every = max(1.0, get_settings().lease_seconds / 3)
        while not self._stop.wait(every):
            try:
                held = _in_transaction(lambda db: items.renew_lease(db, self.item_id, self.token))
            except Exception as exc:
                log.warning("lease renewal of item %s failed: %s", self.item_id, exc)
                continue
            if not held:
                return

    def __enter__(self) -> _LeaseRenewer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _store_evidence(store: EvidenceStore, reservation_id: int, item_id: int, folder: Path) -> None:
    """Put the send's files in the evidence store (a lost screenshot never fails a send)."""
    if store.local_folder(reservation_id, item_id) == folder or not folder.is_dir():
        return
    try:
        store.put_folder(reservation_id, item_id, folder)
    except Exception:
        log.exception("item %s: the evidence could not be stored", item_id)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def send_item(item_id: int, attempt_token: str) -> dict[str, Any]:
    """The RQ job. Returns a small summary (kept briefly by RQ; the database has the truth).
    Every log line of the job carries the item and its attempt token (shared/logs.py)."""
    with logs.context(item=item_id, attempt_token=attempt_token):
        return _send_item(item_id, attempt_token)


def _send_item(item_id: int, attempt_token: str) -> dict[str, Any]:
    work = _begin(item_id, attempt_token)
    if work is None:
        # A stale or duplicate delivery: the token no longer holds a dispatched item.
        log.info("item %s: token %s does not hold it; nothing to do", item_id, attempt_token)
        return {"item_id": item_id, "attempted": False}
    status = heartbeat.STATUS
    status.set("running", item_id)
    submitting = threading.Event()

    def before_submit() -> bool:
        try:
            ok = _in_transaction(lambda db: items.enter_submitting(db, item_id, attempt_token))
        except Exception:
            log.exception("item %s: could not enter submitting; not submitting", item_id)
            return False
        if ok:
            submitting.set()
            status.set("submitting", item_id)
        return ok

    settings = get_settings()
    store = get_store()
    # A file store is written in place; another store gets the files once the send is over.
    evidence_dir = store.local_folder(work.reservation_id, item_id) or Path(
        tempfile.mkdtemp(prefix=f"mikomi-evidence-{item_id}-")
    )
    result: Any
    try:
        with _LeaseRenewer(item_id, attempt_token):
            result = get_sender().send(
                work.url,
                work.script,
                work.company,
                work.optout_url,
                dry_run=False,
                evidence_dir=evidence_dir,
                before_submit=before_submit,
                deadline_s=settings.send_timeout_s,
            )
    except Exception:
        log.exception("item %s: the engine failed", item_id)
        close_sender()  # the browser may be broken: the next job starts a fresh one
        if submitting.is_set():
            result = items.Outcome(status=SendStatus.IN_DOUBT.value, reason="unconfirmed")
        else:
            result = items.Outcome(
                status=SendStatus.FAILED.value, reason=FailReason.SITE_UNREACHABLE.value
            )
    finally:
        status.set("idle", None)
        _store_evidence(store, work.reservation_id, item_id, evidence_dir)
    recorded = _in_transaction(lambda db: items.record_outcome(db, item_id, attempt_token, result))
    if recorded is not None and str(result.status) == SendStatus.SENT:
        status.count_send()
    with logs.context(reservation=work.reservation_id):
        log.info(
            "item %s: %s%s%s",
            item_id,
            result.status,
            f"/{result.reason}" if result.reason else "",
            "" if recorded is not None else " (not recorded: the attempt was reaped meanwhile)",
        )
    return {
        "item_id": item_id,
        "attempted": True,
        "status": str(result.status),
        "reason": result.reason,
    }
