"""The RQ worker classes of the fleet: a ``SimpleWorker`` that runs only the jobs of the contract,
and :class:`SlotWorker`, which runs several of them at once (one per browser slot).

Jobs run in the worker process itself (no fork per job), so the browser lives across jobs. A
job naming any function outside :data:`shared.jobs.ALLOWED_JOBS` is marked failed before its
function is imported: Redis write access must not become code execution on every worker.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import SimpleWorker
from rq.exceptions import DequeueTimeout
from rq.job import Job
from rq.queue import Queue
from rq.timeouts import BaseDeathPenalty
from rq.worker import WorkerStatus

from shared.jobs import ALLOWED_JOBS
from worker import heartbeat
from worker.slot_pool import SlotPool
from worker.slots import SlotController

log = logging.getLogger(__name__)

# How long the dequeuing thread waits at a time (for a job, or for a slot to free up) before it
# looks at the controller and at a stop request again.
DEQUEUE_ROUND_S = 1


class SendWorker(SimpleWorker):
    """Refuses (fails) every job whose function is not in the job contract."""

    # The import workers (``mikomi import-worker``) are this class with shared.jobs.IMPORT_JOBS.
    allowed_jobs: frozenset[str] = ALLOWED_JOBS

    def execute_job(self, job: Job, queue: Queue) -> Any:
        func_name = job.func_name  # a stored string: reading it imports nothing
        if func_name not in self.allowed_jobs:
            log.warning("refused job %s: %r is not a Mikomi job", job.id, func_name)
            self.handle_job_failure(
                job, queue, exc_string=f"refused: {func_name!r} is not an allowed job"
            )
            self.set_state(WorkerStatus.IDLE)
            return None
        return self._run(job, queue)

    def _run(self, job: Job, queue: Queue) -> Any:
        return super().execute_job(job, queue)


class _NoDeathPenalty(BaseDeathPenalty):
    """RQ's job timeout is a SIGALRM, which only the main thread can take. A send has its own
    deadline (the engine's, with a watchdog that kills a stuck browser) and the supervisor
    replaces a process that stops ticking, so slot threads run without one."""

    def setup_death_penalty(self) -> None:
        pass

    def cancel_death_penalty(self) -> None:
        pass


class SlotWorker(SendWorker):
    """A :class:`SendWorker` that runs several send jobs at once, one per browser slot.

    The main thread dequeues a job only while the :class:`~worker.slots.SlotController` has a
    free slot, and hands it to a slot thread (worker/slot_pool.py), which keeps its own engine
    (``worker.jobs.get_sender`` is per thread). A stop request (SIGTERM) stops the dequeuing;
    :meth:`work` returns once every running send is over.
    """

    death_penalty_class = _NoDeathPenalty

    def __init__(self, *args: Any, controller: SlotController, **kwargs: Any) -> None:
        from worker import jobs

        super().__init__(*args, **kwargs)
        self.controller = controller
        self._last_slots = controller.slots
        self.pool = SlotPool(controller, on_exit=jobs.close_sender, on_change=self._report)

    def _report(self) -> None:
        heartbeat.STATUS.set_slots(self.controller.slots, self.controller.busy)

    # --- the main thread: dequeue while a slot is free ----------------------------------------

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        while not self._stop_requested:
            self.heartbeat()
            self._control()
            if not self.pool.wait_for_slot(DEQUEUE_ROUND_S):
                continue
            try:
                result = self.queue_class.dequeue_any(
                    self._ordered_queues,
                    None if timeout is None else DEQUEUE_ROUND_S,
                    connection=self.connection,
                    job_class=self.job_class,
                    serializer=self.serializer,
                    death_penalty_class=self.death_penalty_class,
                )
            except DequeueTimeout:
                continue
            except (RedisConnectionError, RedisTimeoutError) as exc:
                log.warning("dequeue failed (%s); trying again", exc)
                time.sleep(1.0)
                continue
            if result is None:
                if timeout is None:  # burst: the queue is empty
                    return None
                continue
            job, _queue = result
            job.redis_server_version = self.get_redis_server_version()  # type: ignore[no-untyped-call]
            return result
        return None

    def _shutdown(self) -> None:
        # Never raise into the main thread mid-hand-off: just stop dequeuing (the loop looks
        # every DEQUEUE_ROUND_S); the running sends finish in their threads.
        self._stop_requested = True
        self.set_shutdown_requested_date()  # type: ignore[no-untyped-call]

    def _control(self) -> None:
        decision = self.controller.tick()
        if decision is None:
            return
        self.pool.shrink()
        self._report()
        if decision.slots != self._last_slots:
            log.info("browser slots %d → %d (%s)", self._last_slots, decision.slots, decision.why)
            self._last_slots = decision.slots

    def _run(self, job: Job, queue: Queue) -> None:
        self.pool.submit(lambda: SimpleWorker.execute_job(self, job, queue))

    def work(self, *args: Any, **kwargs: Any) -> bool:
        from worker import jobs

        # The browser starts while the worker registers and waits for its first job.
        threading.Thread(target=jobs.warm_up, name="mikomi-warm-up", daemon=True).start()
        try:
            return bool(super().work(*args, **kwargs))
        finally:
            self.pool.close()
            from worker import jobs

            jobs.close_host()
