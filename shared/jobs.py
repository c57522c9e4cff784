"""The job contract between the coordinator and the workers: which queue, which function.

RQ imports and calls whatever dotted path a job names, so anyone who can write to Redis could
otherwise run any function on every worker. Workers run only the functions named here
(worker.rq_worker.SendWorker); everything else fails without being imported.
"""

from __future__ import annotations

SEND_QUEUE = "mikomi-send"
SEND_JOB = "worker.jobs.send_item"

ALLOWED_JOBS: frozenset[str] = frozenset({SEND_JOB})
