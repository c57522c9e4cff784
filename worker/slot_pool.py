"""The threads that run a worker process's sends, as many at once as its slot controller allows.

A slot is a thread with its own engine (browser): Playwright's sync API belongs to the thread
that started it, so a browser cannot serve two threads. A thread lives from send to send and
keeps its browser; when the controller lowers the count, the surplus threads end after their
send and close their browser (``on_exit`` runs in the ending thread). Used by the RQ worker
(worker/rq_worker.py ``SlotWorker``) and by ``bench/send_throughput.py``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from worker.slots import SlotController

log = logging.getLogger(__name__)


class SlotPool:
    def __init__(
        self,
        controller: SlotController,
        on_exit: Callable[[], None],
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.controller = controller
        self._on_exit = on_exit
        self._on_change = on_change
        self._tasks: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._freed = threading.Condition()

    def wait_for_slot(self, timeout_s: float) -> bool:
        """True once a slot is free (at once if one is), False after ``timeout_s``."""
        with self._freed:
            if not self.controller.has_free_slot():
                self._freed.wait(timeout_s)
        return self.controller.has_free_slot()

    def submit(self, task: Callable[[], None]) -> None:
        """Run ``task`` in an idle slot thread, or a new one. Call only with a slot free."""
        self.controller.started()
        self._on_change()
        with self._lock:
            if self._idle == 0:
                thread = threading.Thread(target=self._slot, name="slot", daemon=True)
                self._threads.append(thread)
                self._idle += 1
                thread.start()
            self._idle -= 1
        self._tasks.put(task)

    def shrink(self) -> None:
        """End the idle threads beyond the controller's count now (each closes its browser):
        an idle browser holds its memory until then."""
        with self._lock:
            surplus = min(self._idle, len(self._threads) - self.controller.slots)
            self._idle -= max(0, surplus)
        for _ in range(surplus):
            self._tasks.put(None)

    def close(self) -> None:
        """Wait for the running tasks; every slot thread closes its engine and ends."""
        with self._lock:
            threads = list(self._threads)
            self._idle = 0
        for _ in threads:
            self._tasks.put(None)
        for thread in threads:
            thread.join()

    def _slot(self) -> None:
        try:
            while True:
                task = self._tasks.get()
                if task is None:
                    with self._lock:
                        self._threads.remove(threading.current_thread())
                    return
                started = time.monotonic()
                try:
                    task()
                except Exception:
                    log.exception("a task failed in its slot")
                with self._lock:
                    surplus = len(self._threads) > self.controller.slots
                    if surplus:
                        self._threads.remove(threading.current_thread())
                    else:
                        self._idle += 1
                self.controller.finished(time.monotonic() - started, started_at=started)
                self._on_change()
                with self._freed:
                    self._freed.notify_all()
                if surplus:
                    return
        finally:
            self._on_exit()
