"""``python -m worker -n N``: heartbeats, restart of a killed process, clean shutdown."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shared.metrics import SERVICE_STATES
from shared.models import FleetWorker
from tests.support.fleet import Fleet
from tests.support.processes import alive, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    made = Fleet(tmp_path, kind="sqlite", generated=0).start()
    yield made
    made.stop()


def test_supervisor_restarts_a_killed_worker_and_stops_cleanly(fleet: Fleet) -> None:
    fleet.start_workers(2)
    fleet.wait_for_workers(2)
    victim = fleet.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: not alive(victim), 10, "the killed worker to die")
    wait_until(
        lambda: len([p for p in fleet.worker_pids() if p != victim]) >= 2,
        90,
        "a replacement worker",
    )
    assert fleet.workers is not None
    fleet.workers.send_signal(signal.SIGTERM)
    assert fleet.workers.wait(timeout=60) == 0
    with fleet.session() as db:
        rows = db.scalar(
            select(func.count())
            .select_from(FleetWorker)
            .where(FleetWorker.pid != victim, FleetWorker.state.not_in(SERVICE_STATES))
        )
    assert rows == 0  # each stopped worker removed its heartbeat row
