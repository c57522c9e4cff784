"""Browser slots follow the work (worker/slots.py, worker/rq_worker.py ``SlotWorker``): one real
worker process with Chromium, real RQ and the dispatcher, against fixture sites that answer
slowly (``--latency-ms``). While every slot waits on the network the process adds slots, never
more than ``MIKOMI_WORKER_MAX_SLOTS``; every item ends once, each site receives its one
submission, and no domain has two sends in flight."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from shared.metrics import SERVICE_STATES
from shared.models import FleetWorker, SendItem
from tests.support.fleet import Fleet
from tests.support.processes import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

MAX_SLOTS = 5
LATENCY_S = 0.4
PROSPECTS = 30


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    made = Fleet(tmp_path, kind="sqlite", generated=PROSPECTS).start(
        extra_env={
            "MIKOMI_WORKER_MIN_SLOTS": "1",
            "MIKOMI_WORKER_MAX_SLOTS": str(MAX_SLOTS),
            # The machine running the tests is shared: let demand and memory alone drive the
            # count here (the CPU rules are unit-tested in tests/worker/test_slots.py).
            "MIKOMI_WORKER_CPU_BUSY": "1.0",
            "MIKOMI_WORKER_CPU_IDLE": "1.0",
        }
    )
    made.server.latency_s = LATENCY_S  # every page of every site is slow, as on the internet
    yield made
    made.stop()


def test_slots_rise_while_sends_wait_on_the_network_and_stay_bounded(fleet: Fleet) -> None:
    reservation_id = fleet.reservation(prospects=PROSPECTS, count=PROSPECTS, senders=PROSPECTS)
    seen: list[tuple[int, int]] = []  # (slots offered, slots in use) from the heartbeats
    in_flight_domains: list[list[str]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.5):
            with fleet.session() as db:
                for worker in db.scalars(
                    select(FleetWorker).where(FleetWorker.state.not_in(SERVICE_STATES))
                ):
                    seen.append((worker.slots, worker.slots_in_use))
                in_flight_domains.append(
                    list(
                        db.scalars(
                            select(SendItem.domain).where(
                                SendItem.state.in_(("dispatched", "running", "submitting"))
                            )
                        )
                    )
                )

    watcher = threading.Thread(target=watch, daemon=True)
    fleet.start_workers(1)
    fleet.wait_for_workers(1)
    fleet.start_dispatcher()
    watcher.start()
    try:
        wait_until(
            lambda: fleet.observe(reservation_id).states.keys() <= {"sent", "failed", "skipped"},
            240,
            "every item to end",
        )
    finally:
        stop.set()
        watcher.join(timeout=5)
    final = fleet.observe(reservation_id)
    assert final.add_up()
    assert final.states == {"sent": PROSPECTS}
    # Each site received exactly its one submission.
    received = fleet.submissions_by_host()
    assert len(received) == PROSPECTS and set(received.values()) == {1}
    # The slots grew from one while the sends waited, and never past the bound.
    assert max(offered for offered, _ in seen) >= 3
    assert max(offered for offered, _ in seen) <= MAX_SLOTS
    assert max(in_use for _, in_use in seen) >= 3
    assert all(in_use <= MAX_SLOTS for _, in_use in seen)
    # Politeness holds: never two sends of one domain in flight.
    assert all(len(domains) == len(set(domains)) for domains in in_flight_domains)
