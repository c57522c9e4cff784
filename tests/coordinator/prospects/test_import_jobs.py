"""Prospect imports as RQ jobs (coordinator/prospects/import_jobs.py): an upload through the
API lands in the store, a real ``mikomi import-worker`` process takes the job from a real Redis
and writes the rows; a file the store lost fails with a Japanese reason; an import worker
killed in the middle is resumed by the sweeper on the next one, and nothing is lost or doubled.
Committed for real (other processes write), on a SQLite file of its own."""

from __future__ import annotations

import signal
from datetime import timedelta

import pytest
from redis import Redis
from sqlalchemy import func, select

from coordinator import sweeper
from coordinator.prospects import import_jobs, service
from shared import clock, evidence_store
from shared.models import ImportJob, Prospect
from tests.support.imports import HEADER, Imports, csv_rows, imports
from tests.support.processes import wait_until

__all__ = ["imports"]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


def test_an_upload_is_imported_by_an_import_worker_process(imports: Imports) -> None:
    body = HEADER + csv_rows(40) + "社名なし行,not a url at all,,,,,,,,\n" + csv_rows(5)
    job_id = imports.upload(body, "list.csv")
    # The coordinator did not import: the file waits in the store, the job in the queue.
    assert imports.stored() == [f"{job_id}.prospects"]
    assert imports.job(job_id)["status"] == "running"
    assert imports.prospects() == []
    assert service.import_workers_running() is False  # the import page warns of it

    imports.start_worker()
    wait_until(lambda: service.import_workers_running() is True, 180, "the import worker")
    done = imports.wait_done(job_id)
    assert (done["status"], done["rows_total"], done["rows_imported"]) == ("done", 46, 40)
    assert (done["rows_duplicate"], done["rows_rejected"]) == (5, 1)
    assert [entry["line"] for entry in done["report"]] == [42]
    assert len(imports.prospects()) == 40
    # The store keeps no file once its job has ended (the job deletes it after its last step).
    wait_until(lambda: imports.stored() == [], 30, "the stored file to go")


def test_a_file_lost_by_the_store_fails_with_its_reason(imports: Imports) -> None:
    job_id = imports.upload(HEADER + csv_rows(3), "lost.csv")
    (imports.tmp / "store" / evidence_store.UPLOADS / f"{job_id}.prospects").unlink()
    imports.start_worker()
    failed = imports.wait_done(job_id)
    assert failed["status"] == "failed"
    assert "保存先に見つかりません" in failed["failure_reason"]
    assert imports.prospects() == []


def test_a_bad_file_in_the_store_fails_with_the_importers_reason(imports: Imports) -> None:
    # The import worker checks the file it reads again: what reaches it is what it judges.
    job_id = imports.upload(HEADER + csv_rows(3), "swapped.csv")
    stored = imports.tmp / "store" / evidence_store.UPLOADS / f"{job_id}.prospects"
    stored.write_bytes((HEADER + csv_rows(3)).encode("utf-16"))
    imports.start_worker()
    failed = imports.wait_done(job_id)
    assert failed["status"] == "failed"
    assert "UTF-16 のCSVは読み込めません" in failed["failure_reason"]
    assert failed["rows_imported"] == 0 and imports.prospects() == []
    wait_until(lambda: imports.stored() == [], 30, "the stored file to go")


def test_an_upload_no_import_worker_takes_fails_saying_so(imports: Imports) -> None:
    job_id = imports.upload(HEADER + csv_rows(3), "waiting.csv")
    queue = Redis.from_url(imports.env["MIKOMI_REDIS_URL"])
    assert queue.llen("rq:queue:mikomi-imports") == 1
    later = clock.now() + import_jobs.importer.STALE_AFTER + timedelta(seconds=1)
    with imports.sessions() as db:
        assert sweeper.run_once(later, db=db)["imports_interrupted"] == 1
    failed = imports.job(job_id)
    assert failed["status"] == "failed"
    assert "取り込みワーカー（mikomi import-worker）が動いていない" in failed["failure_reason"]
    # Nothing is left to start later: the queue and the store are empty.
    assert queue.llen("rq:queue:mikomi-imports") == 0
    assert imports.stored() == []


def test_an_import_worker_killed_mid_file_is_resumed_by_the_sweeper(imports: Imports) -> None:
    rows = 30_000
    job_id = imports.upload(HEADER + csv_rows(rows), "big.csv")
    first = imports.start_worker()
    wait_until(lambda: imports.job(job_id)["rows_imported"] > 0, 120, "the first batch")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    cut = imports.job(job_id)
    assert cut["status"] == "running" and 0 < cut["rows_imported"] < rows
    assert imports.stored() == [f"{job_id}.prospects"]

    # The dead worker's run key runs out; ten minutes without progress, the sweeper resumes.
    redis = Redis.from_url(imports.env["MIKOMI_REDIS_URL"])
    wait_until(
        lambda: not redis.exists(f"mikomi:import:{job_id}:running"), 60, "the run key to expire"
    )
    later = clock.now() + import_jobs.importer.STALE_AFTER + timedelta(seconds=1)
    with imports.sessions() as db:
        assert sweeper.run_once(later, db=db)["imports_interrupted"] == 1
    imports.start_worker()
    done = imports.wait_done(job_id)
    assert done["status"] == "done"
    # Every row exactly once, counted once: the resumed run skipped what had committed.
    assert (done["rows_total"], done["rows_imported"], done["rows_duplicate"]) == (rows, rows, 0)
    assert [e["code"] for e in done["report"]] == ["resumed"]
    with imports.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Prospect)) == rows
        job = db.get(ImportJob, job_id)
        assert job is not None and job.finished_at is not None
    wait_until(lambda: imports.stored() == [], 30, "the stored file to go")
