"""The sending fleet end to end: real RQ worker processes with Chromium, the fixture server's
generated prospect sites, Redis, and the dispatcher — on a committed database of its own."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from shared import clock, ledger
from shared.models import Reservation, SendItem
from tests.support.fleet import Fleet, Observation
from tests.support.processes import alive, wait_until, worker_pid_of

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


class Watcher:
    """Observes a reservation in the background; every observation must add up."""

    def __init__(self, fleet: Fleet, reservation_id: int, every: float = 0.3) -> None:
        self.fleet, self.reservation_id, self.every = fleet, reservation_id, every
        self.observations: list[Observation] = []
        self.bad: list[Observation] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            seen = self.fleet.observe(self.reservation_id)
            self.observations.append(seen)
            if not seen.add_up():
                self.bad.append(seen)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture
def fleet_factory(tmp_path: Path) -> Iterator[list[Fleet]]:
    made: list[Fleet] = []
    yield made
    for fleet in made:
        fleet.stop()


def _start(made: list[Fleet], tmp: Path, kind: str, generated: int, **kw: object) -> Fleet:
    fleet = Fleet(tmp, kind=kind, generated=generated, **kw)  # type: ignore[arg-type]
    made.append(fleet)
    return fleet.start()


def _host(url: str) -> str:
    return url.split("//", 1)[1].split("/", 1)[0].split(":")[0]


def _final(fleet: Fleet, reservation_id: int, timeout: float) -> Observation:
    def over() -> bool:
        return fleet.observe(reservation_id).status != "approved"

    wait_until(over, timeout, f"reservation {reservation_id} to finish", every=0.5)
    return fleet.observe(reservation_id)


@pytest.mark.timeout(900)
def test_300_sends_over_700_prospects_complete_exactly(
    fleet_factory: list[Fleet], tmp_path: Path
) -> None:
    fleet = _start(fleet_factory, tmp_path, "postgresql", generated=700)
    rid = fleet.reservation(prospects=700, count=300, senders=4, tickets=1000)
    fleet.start_workers(4)
    fleet.wait_for_workers(4)
    with Watcher(fleet, rid) as watcher:
        fleet.start_dispatcher()
        end = _final(fleet, rid, timeout=840)
    assert watcher.observations and not watcher.bad, watcher.bad[:3]
    assert end.status == "completed"
    assert end.counters["sent"] == 300 and end.states["sent"] == 300
    assert end.counters["in_flight"] == 0 and end.counters["queued"] == 0
    assert end.add_up()
    with fleet.session() as db:
        reservation = db.get(Reservation, rid)
        assert reservation is not None
        balance = ledger.balance(db, reservation.member_id)
        assert (balance.consumed, balance.held, balance.available) == (300, 0, 700)
        sent_hosts = {
            _host(url)
            for url in db.scalars(
                select(SendItem.url).where(SendItem.reservation_id == rid, SendItem.state == "sent")
            )
        }
    received = fleet.submissions_by_host()
    assert max(received.values()) == 1  # at most one submission per prospect
    assert {host.split(":")[0] for host in received} == sent_hosts


def test_senders_pause_and_the_list_running_out(fleet_factory: list[Fleet], tmp_path: Path) -> None:
    fleet = _start(fleet_factory, tmp_path, "sqlite", generated=40)
    rid = fleet.reservation(prospects=40, count=300, senders=1, tickets=1000)
    fleet.start_workers(4)
    fleet.wait_for_workers(4)

    # One sender: the dispatcher keeps exactly one item in flight.
    fleet.tick()
    assert fleet.observe(rid).counters["in_flight"] == 1
    # Senders 1 → 4: the very next tick dispatches up to four.
    fleet.set_reservation(rid, senders=4)
    fleet.tick()
    assert fleet.observe(rid).counters["in_flight"] == 4

    fleet.start_dispatcher()
    wait_until(lambda: fleet.observe(rid).counters["sent"] >= 8, 180, "8 sends")

    # Pause: nothing enters submitting afterwards, and the site receives at most what was
    # already submitting when the pause committed.
    fleet.pause(rid)
    paused_at = clock.now()
    submitting_then = len(fleet.items_in(rid, "submitting"))
    received_then = len(fleet.server.submissions())
    fleet.tick()
    wait_until(lambda: fleet.observe(rid).counters["in_flight"] == 0, 120, "in-flight to drain")
    with fleet.session() as db:
        late = db.scalars(
            select(SendItem.id).where(
                SendItem.reservation_id == rid, SendItem.submitting_at > paused_at
            )
        ).all()
    assert late == []
    assert len(fleet.server.submissions()) - received_then <= submitting_then
    paused = fleet.observe(rid)
    assert paused.status == "paused" and paused.counters["queued"] > 0

    # Resume and let the list run out before the count: auto-cancel, unsent hold released.
    from shared import lifecycle, locks

    with fleet.session() as db:
        reservation = locks.lock_reservation(db, rid)
        lifecycle.change_status(db, reservation, "approved", actor_user_id=None, reason="再開")
    end = _final(fleet, rid, timeout=240)
    assert end.status == "auto_cancelled"
    assert end.counters["queued"] == 0 and end.counters["in_flight"] == 0
    assert end.counters["sent"] == 40
    with fleet.session() as db:
        reservation = db.get(Reservation, rid)
        assert reservation is not None
        assert ledger.reservation_hold_outstanding(db, rid) == 0
        balance = ledger.balance(db, reservation.member_id)
        assert (balance.consumed, balance.held, balance.available) == (40, 0, 960)
    assert max(fleet.submissions_by_host().values()) == 1


def test_chaos_sigkill_workers_and_flush_redis(fleet_factory: list[Fleet], tmp_path: Path) -> None:
    fleet = _start(fleet_factory, tmp_path, "sqlite", generated=90, lease_seconds=8)
    rid = fleet.reservation(prospects=90, count=300, senders=4, tickets=1000)
    fleet.start_workers(4)
    fleet.wait_for_workers(4)
    fleet.start_dispatcher()
    rng = random.Random(5)
    killed_submitting: set[int] = set()
    kills = 0
    dead: set[int] = set()
    flushed = False
    with Watcher(fleet, rid) as watcher:
        while kills < 5:
            want_submit = kills < 3  # the first three kills land while a submit is in progress
            deadline = time.monotonic() + 60
            victim: tuple[int, int] | None = None
            while victim is None and time.monotonic() < deadline:
                states = ("submitting",) if want_submit else ("running",)
                for item in fleet.items_in(rid, *states):
                    pid = worker_pid_of(item.worker_id)
                    if pid is not None and alive(pid) and pid not in dead:
                        victim = (item.id, pid)
                        break
                else:
                    time.sleep(0.03)
            assert victim is not None, (kills, fleet.observe(rid))
            item_id, pid = victim
            os.kill(pid, signal.SIGKILL)
            dead.add(pid)
            kills += 1
            # whatever the item was doing when the process died; in_doubt is allowed only for these
            with fleet.session() as db:
                state = db.scalar(select(SendItem.state).where(SendItem.id == item_id))
            if state in ("submitting", "sent", "in_doubt"):
                killed_submitting.add(item_id)
            if kills == 3 and not flushed:
                fleet.redis.flushdb()  # Redis loses every queued job and registry
                flushed = True
            time.sleep(rng.uniform(1.0, 3.0))
        end = _final(fleet, rid, timeout=420)
    assert not watcher.bad, watcher.bad[:3]
    assert end.status == "auto_cancelled"  # 90 prospects for 300 sends: the list ran out
    assert end.counters["queued"] == 0 and end.counters["in_flight"] == 0
    with fleet.session() as db:
        rows = db.execute(
            select(SendItem.id, SendItem.state, SendItem.url).where(SendItem.reservation_id == rid)
        ).all()
    # no lost item: every one is final
    assert {state for _, state, _ in rows} <= {"sent", "failed", "skipped", "in_doubt"}
    in_doubt = {item_id for item_id, state, _ in rows if state == "in_doubt"}
    assert in_doubt <= killed_submitting
    # no duplicate submission at the fixture server
    received = fleet.submissions_by_host()
    assert received and max(received.values()) == 1
    sent_hosts = {_host(url) for _, state, url in rows if state == "sent"}
    assert sent_hosts <= {host.split(":")[0] for host in received}
    assert end.counters["sent"] + len(in_doubt) >= len(received)
