"""A prospect file uploaded over a slow link holds no database transaction while it arrives
(coordinator/database.py ``receiving_body``): on SQLite the request's writer lock would stop
every other writer for the whole upload, and PostgreSQL ends a session idle inside a
transaction (``MIKOMI_DB_IDLE_IN_TRANSACTION_S``, here 1 s). A real coordinator under uvicorn,
a client that sends the file in pieces, and a writer in between."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from shared.models import ImportJob, Member
from tests.support.fleet import Fleet
from tests.support.live import Coordinator, api_token
from tests.support.processes import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ROWS = [f"遅回線{i}株式会社,https://slow-{i}.example.jp/\n" for i in range(40)]


@pytest.fixture(params=["sqlite", "postgresql"])
def fleet(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    made = Fleet(tmp_path, kind=request.param, generated=0).start(
        extra_env={"MIKOMI_DB_IDLE_IN_TRANSACTION_S": "1"}
    )
    yield made
    made.stop()


def test_a_slow_upload_holds_no_transaction_while_it_arrives(fleet: Fleet) -> None:
    token = api_token(fleet, "operator")
    imports = fleet.tmp / "var" / "imports"
    written = threading.Event()
    seen: dict[str, object] = {}

    def body() -> Iterator[bytes]:
        yield b"company,url\n"
        for row in ROWS[:20]:
            yield row.encode()
        # The file pauses past the idle limit, until another writer has committed (or 20 s).
        time.sleep(1.5)
        seen["written_during_upload"] = written.wait(timeout=20)
        for row in ROWS[20:]:
            yield row.encode()

    def receiving() -> bool:
        """The coordinator is inside the upload: its file has begun to arrive."""
        return imports.is_dir() and any(imports.glob("*.csv"))

    with Coordinator() as coordinator:

        def upload() -> None:
            with httpx.Client(base_url=coordinator.base, timeout=60) as client:
                seen["response"] = client.post(
                    "/api/v1/prospects/import?filename=slow.csv",
                    content=body(),
                    headers={"authorization": f"Bearer {token}", "content-type": "text/csv"},
                )

        sender = threading.Thread(target=upload)
        sender.start()
        wait_until(receiving, 20, "the upload to reach the coordinator", every=0.02)
        with fleet.session() as db:  # another writer while the file is still arriving
            db.add(Member(company_name="並行書き込み株式会社"))
        written.set()
        sender.join(timeout=60)

    assert seen["written_during_upload"] is True  # the write did not wait for the upload
    response = seen["response"]
    assert isinstance(response, httpx.Response)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    with fleet.session(write=False) as db:
        job = db.get(ImportJob, job_id)
        assert job is not None and job.filename == "slow.csv"
        assert db.scalar(select(Member.id).where(Member.company_name == "並行書き込み株式会社"))
