"""The job contract between the coordinator and the workers: which queue, which function.

RQ imports and calls whatever dotted path a job names, so anyone who can write to Redis could
otherwise run any function on every worker. Workers run only the functions named here
(worker.rq_worker.SendWorker); everything else fails without being imported.

Two kinds of worker, two contracts: the sending workers (``mikomi worker``) run only
:data:`ALLOWED_JOBS` from :data:`SEND_QUEUE`; the import workers (``mikomi import-worker``, on
any host, docs/operations.md#prospect-imports) run only :data:`IMPORT_JOBS` from
:data:`IMPORT_QUEUE`. A sending worker never runs an import (it opens untrusted pages on a
database role that cannot write the prospect list), an import worker never a send.
"""

from __future__ import annotations

SEND_QUEUE = "mikomi-send"
SEND_JOB = "worker.jobs.send_item"

ALLOWED_JOBS: frozenset[str] = frozenset({SEND_JOB})

IMPORT_QUEUE = "mikomi-imports"
# ``run_import_job(import_job_id, kind, upload_name)``: the file waits in the store
# (shared/evidence_store.py, "uploads") under ``upload_name``.
IMPORT_JOB = "coordinator.prospects.import_jobs.run_import_job"

IMPORT_JOBS: frozenset[str] = frozenset({IMPORT_JOB})
