"""The RQ worker class of the fleet: a ``SimpleWorker`` that runs only the jobs of the contract.

Jobs run in the worker process itself (no fork per job), so the browser lives across jobs. A
job naming any function outside :data:`shared.jobs.ALLOWED_JOBS` is marked failed before its
function is imported: Redis write access must not become code execution on every worker.
"""

from __future__ import annotations

import logging
from typing import Any

from rq import SimpleWorker
from rq.job import Job
from rq.queue import Queue
from rq.worker import WorkerStatus

from shared.jobs import ALLOWED_JOBS

log = logging.getLogger(__name__)


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
        return super().execute_job(job, queue)
