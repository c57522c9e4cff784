"""``mikomi import-worker``: takes the prospect imports off the imports queue, on any host
(docs/operations.md#prospect-imports).

One RQ worker (an ``rq.SimpleWorker`` that runs only ``shared.jobs.IMPORT_JOBS``), one import
at a time, in this process: the job's own beat thread keeps its ``progress_at`` and its Redis
run key fresh. SIGTERM is RQ's warm shutdown (the running import finishes first); a second
signal, or SIGKILL, cuts it off, and the sweeper resumes the job on the next import worker from
its last committed batch (``coordinator/prospects/import_jobs.py``).

It lives here rather than in ``worker/`` because it runs coordinator code (the importers), which
the sending workers must never import, and because it writes the prospect list, which the
sending workers' least-privilege database role cannot.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def run(*, burst: bool = False) -> int:
    from rq.serializers import JSONSerializer

    from shared.db import reset_engine
    from shared.jobs import IMPORT_JOBS, IMPORT_QUEUE
    from shared.redis_conn import get_redis
    from worker.rq_worker import SendWorker

    class ImportWorker(SendWorker):
        allowed_jobs = IMPORT_JOBS

    reset_engine()
    name = f"import-{socket.gethostname()}-{os.getpid()}"
    rq_worker = ImportWorker(
        [IMPORT_QUEUE], connection=get_redis(), serializer=JSONSerializer, name=name
    )
    log.info("import worker %s listening on %s", name, IMPORT_QUEUE)
    rq_worker.work(with_scheduler=False, burst=burst, logging_level="WARNING")
    return 0
