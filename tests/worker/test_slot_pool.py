"""The slot threads (worker/slot_pool.py): as many tasks at once as the controller allows, a
thread (and its engine) kept from task to task, surplus threads ended when the count falls."""

from __future__ import annotations

import threading
import time

from worker.slot_pool import SlotPool
from worker.slots import SlotController, SlotLimits


def test_tasks_run_at_once_up_to_the_count_and_surplus_threads_end() -> None:
    controller = SlotController(SlotLimits(min_slots=3, max_slots=3), every_s=3600)
    ended: list[str] = []
    pool = SlotPool(controller, on_exit=lambda: ended.append(threading.current_thread().name))
    release = threading.Event()
    running = threading.Semaphore(0)
    names: list[str] = []

    def task() -> None:
        names.append(threading.current_thread().name)
        running.release()
        release.wait(10)

    for _ in range(3):
        assert pool.wait_for_slot(0)
        pool.submit(task)
    for _ in range(3):
        assert running.acquire(timeout=10)
    assert controller.busy == 3 and not pool.wait_for_slot(0.05)  # all three run at once

    release.set()
    assert pool.wait_for_slot(10)
    while controller.busy:
        pool.wait_for_slot(0.05)
    # The same threads take the next tasks: no new engine per task.
    threads_before = {t.ident for t in threading.enumerate() if t.name == "slot"}
    pool.submit(task)
    assert running.acquire(timeout=10)
    while controller.busy:
        pool.wait_for_slot(0.05)
    assert {t.ident for t in threading.enumerate() if t.name == "slot"} == threads_before

    controller.slots = 1  # the controller cut the count: two idle threads end now
    pool.shrink()
    deadline = time.monotonic() + 10
    while len(ended) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(ended) == 2
    pool.close()
    assert len(ended) == 3  # every thread closed its engine
