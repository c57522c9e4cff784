"""What this worker process is doing, written to ``fleet_workers`` every few seconds.

The send job updates :data:`STATUS` in memory (no database write per state change); a
background thread publishes it. A process that dies stops beating, and the fleet view shows
it gone once its heartbeat is older than ``shared.metrics.ALIVE_WITHIN``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, update

from shared import clock
from shared.db import transaction
from shared.models import FleetWorker

log = logging.getLogger(__name__)

INTERVAL_S = 2.0


@dataclass
class WorkerStatus:
    """What the process does: the state of its busiest slot (submitting > running > idle), one
    item it works on, and its browser slots (offered, in use; worker/slots.py)."""

    worker_id: str = ""
    state: str = "idle"  # idle | running | submitting | stopping
    current_item_id: int | None = None
    sends: int = 0
    slots: int = 1
    slots_in_use: int = 0
    started_at: datetime = field(default_factory=clock.now)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Per slot thread: (state, item) while it works on an item.
    _work: dict[int, tuple[str, int | None]] = field(default_factory=dict, repr=False)

    def set(self, state: str, item_id: int | None = None) -> None:
        """The calling thread's (slot's) state; ``stopping`` is the whole process's."""
        with self.lock:
            if state == "stopping":
                self.state = state
                return
            if state == "idle":
                self._work.pop(threading.get_ident(), None)
            else:
                self._work[threading.get_ident()] = (state, item_id)
            if self.state == "stopping":
                return
            busiest = max(self._work.values(), key=lambda w: _RANK.get(w[0], 0), default=None)
            self.state, self.current_item_id = busiest if busiest else ("idle", None)

    def set_slots(self, slots: int, in_use: int) -> None:
        with self.lock:
            self.slots, self.slots_in_use = slots, in_use

    def count_send(self) -> None:
        with self.lock:
            self.sends += 1


_RANK = {"running": 1, "submitting": 2}


STATUS = WorkerStatus()


def worker_id_for(pid: int) -> str:
    return f"{socket.gethostname()}-{pid}"


def default_worker_id() -> str:
    return worker_id_for(os.getpid())


def beat_once(status: WorkerStatus = STATUS) -> None:
    with status.lock:
        values = {
            "state": status.state,
            "current_item_id": status.current_item_id,
            "sends": status.sends,
            "slots": status.slots,
            "slots_in_use": status.slots_in_use,
            "heartbeat_at": clock.now(),
        }
    with transaction() as db:
        # Write first (no read before it): on SQLite a read would pin a snapshot that a
        # concurrent commit makes stale, and the write would then fail at once.
        result = db.execute(
            update(FleetWorker).where(FleetWorker.id == status.worker_id).values(**values)
        )
        if getattr(result, "rowcount", 0) == 0:
            db.add(
                FleetWorker(
                    id=status.worker_id,
                    hostname=socket.gethostname(),
                    pid=os.getpid(),
                    started_at=status.started_at,
                    **values,
                )
            )


def forget(worker_id: str) -> None:
    with transaction() as db:
        db.execute(delete(FleetWorker).where(FleetWorker.id == worker_id))


class Heartbeat:
    """The beating thread of one worker process."""

    def __init__(self, worker_id: str, status: WorkerStatus = STATUS) -> None:
        status.worker_id = worker_id
        self.status = status
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                beat_once(self.status)
            except Exception as exc:  # the database is briefly away: beat again later
                log.warning("heartbeat failed: %s", exc)
            self._stop.wait(INTERVAL_S)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            forget(self.status.worker_id)
        except Exception as exc:
            log.warning("could not remove the heartbeat row: %s", exc)
