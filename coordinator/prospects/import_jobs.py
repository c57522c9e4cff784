"""Imports as RQ jobs: the coordinator hands the file over, an import worker on any host runs
it (docs/operations.md#prospect-imports).

The coordinator never imports. It checks the file's header, commits the ``ImportJob`` row,
then :func:`hand_off` puts the uploaded file in the store (``shared/evidence_store.py``,
``imports/<job>.<kind>``: a shared directory or an S3 bucket) and enqueues
``run_import_job(job_id, kind, name)`` on ``shared.jobs.IMPORT_QUEUE``. An import worker
(``mikomi import-worker``) takes the job, reads the file from the store (in place, or
downloaded to its scratch folder as a stream) and runs the importer of that ``kind``
(:data:`KINDS`); the row carries the progress, the report and the end as before, and the
stored file is removed once the job has ended.

A running job refreshes ``progress_at`` every :data:`BEAT_S` and holds a Redis key while it
runs, so a job whose ``progress_at`` stops moving has lost its worker. The sweeper
(:func:`resume_or_fail_interrupted`) then enqueues it again: the importer skips the records of
the batches that committed and carries on (at most :data:`MAX_RESUMES` times). When the file
is gone, or it has been resumed that often, the job is marked failed with the reason
(``importer.fail_interrupted``); what committed stays.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from coordinator.prospects import importer, registry
from shared import clock
from shared.config import get_settings
from shared.db import after_commit, transaction
from shared.enums import ImportStatus
from shared.evidence_store import get_store
from shared.jobs import IMPORT_JOB, IMPORT_QUEUE
from shared.models import ImportJob
from shared.redis_conn import get_redis

log = logging.getLogger(__name__)

PROSPECTS = "prospects"
BEAT_S = 10.0  # progress_at moves at least this often while a job runs, batch or not
RUN_KEY_TTL_S = 30  # the run key outlives two missed beats; then another run may start
MAX_RESUMES = 3
JOB_TIMEOUT_S = 12 * 3600  # RQ's limit: far above any import; the job ends by itself
NO_WORKER_REASON = (
    "取り込みワーカー（mikomi import-worker）が動いていないため、取り込みを始められませんでした。"
    "ワーカーを起動してから、もう一度取り込んでください"
)


class ImportRunResult(Protocol):
    status: str


class KindRunner(Protocol):
    def __call__(self, path: Path, job_id: int) -> ImportRunResult: ...


def _run_prospects(path: Path, job_id: int) -> ImportRunResult:
    # Always as a resume: a job that never committed a batch resumes from the first record.
    return importer.run_import(path, job_id, sessions=transaction, resume=True)


def _run_registry(path: Path, job_id: int) -> ImportRunResult:
    # A registry job always continues after its last committed batch (its resume_offset).
    return registry.run_import(path, job_id, sessions=transaction)


# The importers a job may run, by the ``kind`` it was enqueued with. Another kind of file adds
# its runner here and calls ``hand_off(path, job_id, kind)``.
KINDS: dict[str, KindRunner] = {PROSPECTS: _run_prospects, registry.KIND: _run_registry}


def upload_name(job_id: int, kind: str) -> str:
    return f"{job_id}.{kind}"


def _queue(connection: Redis[bytes] | None = None) -> Queue:
    return Queue(IMPORT_QUEUE, connection=connection or get_redis(), serializer=JSONSerializer)


def _rq_job_id(job_id: int) -> str:
    return f"import-{job_id}"


def _run_key(job_id: int) -> str:
    return f"mikomi:import:{job_id}:running"


def _waiting(redis: Redis[bytes], job_id: int) -> bool:
    """Whether the job's RQ job still waits in the queue for an import worker."""
    try:
        job = Job.fetch(_rq_job_id(job_id), connection=redis, serializer=JSONSerializer)
    except NoSuchJobError:
        return False
    return job.get_status(refresh=False) == JobStatus.QUEUED


def enqueue(job_id: int, kind: str) -> None:
    """Ring the import workers' doorbell (once: a job still waiting in the queue is left)."""
    queue = _queue()
    if _waiting(queue.connection, job_id):
        return
    queue.enqueue(
        IMPORT_JOB,
        job_id,
        kind,
        upload_name(job_id, kind),
        job_id=_rq_job_id(job_id),
        job_timeout=JOB_TIMEOUT_S,
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
        description=f"import {job_id} ({kind})",
    )


def hand_off(path: Path, job_id: int, kind: str = PROSPECTS) -> None:
    """The production import runner (``service.ImportRunner``), called once the job's row has
    committed: the file goes to the store, then the job to the imports queue.

    If the store refuses the file, the job fails at once with the reason. If Redis refuses the
    job, the row stays running with its file stored, and the sweeper enqueues it again."""
    try:
        get_store().put_upload(upload_name(job_id, kind), path)
    except Exception as exc:
        log.exception("import %s: the uploaded file could not be stored", job_id)
        path.unlink(missing_ok=True)
        _fail(job_id, f"アップロードしたファイルを保存できませんでした（{type(exc).__name__}）")
        return
    try:
        enqueue(job_id, kind)
    except Exception:
        log.exception("import %s: not enqueued; the sweeper will enqueue it again", job_id)
        return
    log.info("import %s (%s) enqueued on %s", job_id, kind, IMPORT_QUEUE)


def launcher(kind: str) -> Callable[[Path, int], None]:
    """``hand_off`` for one kind, in the shape of ``service.ImportRunner``."""
    return partial(hand_off, kind=kind)


def _mark_failed(job: ImportJob, now: datetime, code: str, reason: str) -> None:
    job.status = ImportStatus.FAILED
    job.finished_at = now
    job.report = [*(job.report or []), {"line": None, "code": code, "reason": reason}]


def _fail(job_id: int, reason: str) -> None:
    with transaction() as db:
        job = db.get(ImportJob, job_id, with_for_update=True)
        if job is not None and job.status == ImportStatus.RUNNING:
            _mark_failed(job, clock.now(), "fatal", reason)


def _drop_queued(job_id: int) -> None:
    """Take a job that no import worker will ever start off the queue."""
    redis = get_redis()
    try:
        Job.fetch(_rq_job_id(job_id), connection=redis, serializer=JSONSerializer).cancel()
    except NoSuchJobError:
        return


def _touch(job_id: int) -> bool:
    """Move ``progress_at``; False once the job is no longer running."""
    with transaction() as db:
        moved = db.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id, ImportJob.status == ImportStatus.RUNNING)
            .values(progress_at=clock.now())
        )
    return bool(getattr(moved, "rowcount", 0))


class _Beat:
    """While a job runs: its Redis run key and its ``progress_at`` stay fresh."""

    def __init__(self, job_id: int, redis: Redis[bytes]) -> None:
        self.job_id = job_id
        self.redis = redis
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"import-{job_id}-beat", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(BEAT_S):
            try:
                self.redis.expire(_run_key(self.job_id), RUN_KEY_TTL_S)
                _touch(self.job_id)
            except Exception:  # a missed beat costs nothing until three are missed
                log.warning("import %s: beat failed", self.job_id, exc_info=True)

    def __enter__(self) -> _Beat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.redis.delete(_run_key(self.job_id))


def run_import_job(job_id: int, kind: str, name: str) -> dict[str, Any]:
    """The RQ entry point (``shared.jobs.IMPORT_JOB``): import job ``job_id`` from the stored
    file ``name`` with the importer of ``kind``. A delivery for a job that has ended, or that
    another worker is running, does nothing."""
    redis = get_redis()
    if not redis.set(_run_key(job_id), "1", nx=True, ex=RUN_KEY_TTL_S):
        log.info("import %s is already running elsewhere; this delivery does nothing", job_id)
        return {"status": "running_elsewhere"}
    store = get_store()
    ended = True
    try:
        with _Beat(job_id, redis):
            if not _touch(job_id):
                return {"status": "not_running"}
            runner = KINDS.get(kind)
            if runner is None:
                _fail(job_id, f"この種類の取り込みはできません（{kind}）")
                return {"status": ImportStatus.FAILED}
            scratch = get_settings().var_dir / "imports" / "work"
            local = store.fetch_upload(name, scratch)
            if local is None:
                _fail(
                    job_id,
                    "取り込むファイルが保存先に見つかりません。もう一度アップロードしてください",
                )
                return {"status": ImportStatus.FAILED}
            log.info("import %s (%s) started from %s", job_id, kind, name)
            try:
                result = runner(local, job_id)
            finally:
                if local.parent == scratch:  # a downloaded copy, not the store's own file
                    local.unlink(missing_ok=True)
            log.info("import %s ended: %s", job_id, result.status)
            return {"status": result.status}
    except BaseException:
        # Kept unless the row says the job has ended: an outage of the database (which this
        # check then meets too) is what a resume from the stored file is for.
        ended = False
        try:
            ended = not _still_running(job_id)
        except Exception:
            log.warning("import %s: its state could not be read; its file is kept", job_id)
        raise
    finally:
        if ended:
            store.delete_upload(name)


def _still_running(job_id: int) -> bool:
    with transaction() as db:
        return db.scalar(select(ImportJob.status).where(ImportJob.id == job_id)) == (
            ImportStatus.RUNNING
        )


def _import_workers_alive(redis: Redis[bytes]) -> bool:
    return bool(Worker.all(connection=redis, queue=_queue(redis)))


def workers_running() -> bool | None:
    """Whether any import worker listens on the imports queue (None: Redis did not answer).
    Without one, an upload waits in the queue; the import page says so."""
    try:
        return _import_workers_alive(get_redis())
    except RedisError:
        return None


def resume_or_fail_interrupted(db: Session, now: datetime) -> int:
    """The sweeper's rule for running imports whose ``progress_at`` has not moved for
    ``importer.STALE_AFTER``: a job still waiting in the queue while an import worker is alive
    waits on, one waiting with no import worker at all fails saying so; one whose worker died
    is enqueued again to resume (its file still stored, fewer than :data:`MAX_RESUMES` resumes
    so far); the rest are marked failed with the reason.
    Returns how many jobs it resumed or failed."""
    stale = db.scalars(
        select(ImportJob)
        .where(ImportJob.status == ImportStatus.RUNNING)
        .where(
            func.coalesce(ImportJob.progress_at, ImportJob.created_at) < now - importer.STALE_AFTER
        )
        .with_for_update(skip_locked=True)
    ).all()
    if not stale:
        return 0
    redis = get_redis()
    store = get_store()
    acted = 0
    for job in stale:
        if redis.exists(_run_key(job.id)):
            continue  # a worker is on it right now
        names = store.upload_names(f"{job.id}.")
        if _waiting(redis, job.id):
            if _import_workers_alive(redis):
                job.progress_at = now  # its turn has not come yet (another import runs)
                continue
            _mark_failed(job, now, "no_import_worker", NO_WORKER_REASON)
            after_commit(db, partial(_drop_queued, job.id))
            for name in names:
                after_commit(db, partial(store.delete_upload, name))
            log.warning("import %s failed: no import worker took it", job.id)
            acted += 1
            continue
        resumes = sum(1 for entry in job.report or [] if entry.get("code") == "resumed")
        if len(names) == 1 and resumes < MAX_RESUMES:
            kind = names[0].split(".", 1)[1]
            job.report = [
                *(job.report or []),
                {
                    "line": None,
                    "code": "resumed",
                    "reason": "取り込みが中断されたため、取り込み済みの行の続きから再開します"
                    f"（{resumes + 1}回目）",
                },
            ]
            job.progress_at = now
            after_commit(db, partial(enqueue, job.id, kind))
            log.warning("import %s lost its worker; resuming it (%s)", job.id, resumes + 1)
            acted += 1
            continue
        for name in names:
            after_commit(db, partial(store.delete_upload, name))
    db.flush()
    return acted + importer.fail_interrupted(db, now)
