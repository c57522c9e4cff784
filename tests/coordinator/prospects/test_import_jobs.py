"""Prospect imports as RQ jobs (coordinator/prospects/import_jobs.py): an upload through the
API lands in the store, a real ``mikomi import-worker`` process takes the job from a real Redis
and writes the rows; a file the store lost fails with a Japanese reason; an import worker
killed in the middle is resumed by the sweeper on the next one, and nothing is lost or doubled.
Committed for real (other processes write), on a SQLite file of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from coordinator import sweeper
from coordinator.prospects import import_jobs, service
from shared import clock, evidence_store, migrate
from shared.config import PROJECT_ROOT, get_settings
from shared.db import make_engine, reset_engine
from shared.enums import Role
from shared.models import ImportJob, Prospect
from tests.support.fleet import redis_db_number
from tests.support.processes import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

HEADER = "company,url,industry,prefecture,city,address,phone,employees,capital,founded\n"
MIKOMI = str(Path(sys.executable).with_name("mikomi"))


def csv_rows(n: int, start: int = 0) -> str:
    return "".join(
        f"株式会社インポート{i},https://import-{i}.example.jp/,製造業,東京都,港区,芝{i},03-0000-{i % 10000:04d},10,1000000,2001\n"
        for i in range(start, start + n)
    )


@dataclass
class Imports:
    tmp: Path
    env: dict[str, str]
    sessions: sessionmaker[Session]
    client: TestClient
    headers: dict[str, str]
    workers: list[subprocess.Popen[bytes]]

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = (self.tmp / "import-worker.log").open("ab")
        proc = subprocess.Popen(
            [MIKOMI, "import-worker"],
            cwd=PROJECT_ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(proc)
        return proc

    def upload(self, body: str, filename: str) -> int:
        resp = self.client.post(
            f"/api/v1/prospects/import?filename={filename}",
            content=body.encode(),
            headers={**self.headers, "Content-Type": "text/csv"},
        )
        assert resp.status_code == 202, resp.text
        return int(resp.json()["id"])

    def job(self, job_id: int) -> dict:  # type: ignore[type-arg]
        resp = self.client.get(f"/api/v1/prospects/imports/{job_id}", headers=self.headers)
        assert resp.status_code == 200
        return dict(resp.json())

    def wait_done(self, job_id: int, timeout: float = 240) -> dict:  # type: ignore[type-arg]
        wait_until(lambda: self.job(job_id)["status"] != "running", timeout, f"import {job_id}")
        return self.job(job_id)

    def prospects(self) -> list[str]:
        with self.sessions() as db:
            return list(db.scalars(select(Prospect.domain).order_by(Prospect.domain)))

    def stored(self) -> list[str]:
        folder = self.tmp / "store" / evidence_store.UPLOADS
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture
def imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Imports]:
    from coordinator.accounts import service as accounts
    from coordinator.app import create_app

    url = f"sqlite:///{tmp_path / 'imports.db'}"
    migrate.upgrade(url)
    env = {
        "MIKOMI_DATABASE_URL": url,
        "MIKOMI_REDIS_URL": f"redis://127.0.0.1:6379/{redis_db_number()}",
        "MIKOMI_VAR_DIR": str(tmp_path / "var"),
        "MIKOMI_EVIDENCE_URL": f"file://{tmp_path / 'store'}",
        "MIKOMI_SMTP_HOST": "",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    evidence_store._cached.cache_clear()
    reset_engine()
    redis = Redis.from_url(env["MIKOMI_REDIS_URL"])
    redis.flushdb()
    engine = make_engine(url)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    with sessions() as db:
        operator = accounts.create_user(
            db, email="op@example.test", password="password-123", role=Role.OPERATOR
        )
        token = accounts.issue_token(db, operator, "api")[0]
        db.commit()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        with TestClient(create_app()) as client:
            yield Imports(
                tmp_path, env, sessions, client, {"Authorization": f"Bearer {token}"}, workers
            )
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        redis.flushdb()
        engine.dispose()
        get_settings.cache_clear()
        evidence_store._cached.cache_clear()
        reset_engine()


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
