"""Prospect imports as RQ jobs, for their tests: an ``imports`` fixture with its own SQLite
file, a real Redis database, a file store and ``mikomi import-worker`` processes it starts and
ends (coordinator/prospects/import_jobs.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared import evidence_store, migrate
from shared.config import PROJECT_ROOT, get_settings
from shared.db import make_engine, reset_engine
from shared.enums import Role
from shared.models import Prospect
from tests.support.fleet import redis_db_number
from tests.support.processes import wait_until

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
