"""Workers run only the jobs of the contract: a job naming any other function fails unrun."""

from __future__ import annotations

import uuid
from pathlib import Path

from redis import Redis
from rq import Queue
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from shared.jobs import ALLOWED_JOBS, SEND_JOB
from worker.rq_worker import SendWorker


def test_a_job_outside_the_contract_fails_without_running(tmp_path: Path) -> None:
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    queue = Queue(
        f"test-refuse-{uuid.uuid4().hex[:8]}", connection=redis, serializer=JSONSerializer
    )
    target = tmp_path / "written-by-an-attacker"
    # Anyone with write access to Redis could name any importable function.
    job = queue.enqueue("os.mkdir", str(target))
    try:
        worker = SendWorker([queue], connection=redis, serializer=JSONSerializer)
        worker.work(burst=True, with_scheduler=False)
        job.refresh()
        assert job.get_status() == JobStatus.FAILED
        assert not target.exists()
        assert "not an allowed job" in (job.latest_result().exc_string or "")
    finally:
        job.delete()
        queue.delete(delete_jobs=True)


def test_the_contract_names_the_send_job() -> None:
    import worker.jobs

    assert {SEND_JOB} == ALLOWED_JOBS
    module, _, name = SEND_JOB.rpartition(".")
    assert module == worker.jobs.__name__ and callable(getattr(worker.jobs, name))
