"""Resuming a registry import after a kill (coordinator/prospects/registry.py), on SQLite and
PostgreSQL: a real process is killed in the middle of a batch, and importing the same file
again continues from its last committed batch. Committed for real (a child process writes), so
it uses corporate numbers of its own and removes its rows afterwards."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coordinator.prospects import registry
from coordinator.prospects.registry_sample import corporate_number, corporations, write_registry
from shared.db import transaction
from shared.models import ImportJob, Prospect

_KILLER = """
import os, sys
from pathlib import Path
from coordinator.prospects import registry, import_writing
from shared.db import transaction
calls = 0
original = import_writing.insert_rows
def dying(*args, **kwargs):
    global calls
    calls += 1
    if calls == 3:
        os._exit(9)  # killed in the middle of the third batch
    return original(*args, **kwargs)
registry.insert_rows = dying
registry.run_import(
    Path(sys.argv[1]), int(sys.argv[2]), sessions=transaction, batch_size=40, parallel=True
)
"""


def test_resumes_after_a_kill_from_the_last_committed_batch(
    engine,
    database_urls,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    name = engine.dialect.name
    url = database_urls[name]
    corps = list(corporations(200, seed=7))
    # Numbers of their own, so the committed rows of this test are its own.
    corps = [replace(c, number=corporate_number(900_000 + i)) for i, c in enumerate(corps)]
    path = tmp_path / "all.zip"
    write_registry(path, corps, zipped=True)
    numbers = [c.number for c in corps]
    with Session(engine) as db:
        job = registry.start_job(db, path, filename=path.name, created_by=None)
        db.commit()
        job_id = job.id
    env = {"MIKOMI_DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    killed = subprocess.run(
        [sys.executable, "-c", _KILLER, str(path), str(job_id)],
        env=env,
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
    )
    assert killed.returncode == 9, killed.stderr
    try:
        with Session(engine) as db:
            landed = db.scalar(
                select(func.count())
                .select_from(Prospect)
                .where(Prospect.corporate_number.in_(numbers))
            )
            job = db.get(ImportJob, job_id)
            assert job is not None and job.status == "running"
            assert landed == 80 and job.resume_offset == 80 and job.rows_imported == 80
            # Importing the same file again continues that job after its last batch.
            resumed = registry.start_job(db, path, filename=path.name, created_by=None)
            db.commit()
            assert resumed.id == job_id
            result = registry.run_import(
                path, job_id, sessions=lambda: transaction(db), batch_size=40, analyze=False
            )
            assert (result.status, result.imported, result.duplicates, result.rows_total) == (
                "done",
                200,
                0,
                200,
            )
            rows = db.scalars(
                select(Prospect.corporate_number).where(Prospect.corporate_number.in_(numbers))
            )
            assert sorted(rows) == sorted(numbers)
    finally:
        with Session(engine) as db:
            db.execute(Prospect.__table__.delete().where(Prospect.corporate_number.in_(numbers)))
            db.execute(ImportJob.__table__.delete().where(ImportJob.id == job_id))
            db.commit()
