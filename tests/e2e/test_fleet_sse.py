"""Live counters: a commit reaches an SSE client through Redis pub/sub, on a real coordinator."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.fleet.router import POLL_SECONDS
from shared import items
from tests.support.fleet import Fleet
from tests.support.live import Coordinator, SseClient, api_token

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    made = Fleet(tmp_path, kind="sqlite", generated=6).start()
    yield made
    made.stop()


def test_a_change_reaches_the_browser_through_pub_sub(fleet: Fleet) -> None:
    rid = fleet.reservation(prospects=6, count=300, senders=2)
    token = api_token(fleet, "operator")
    with Coordinator() as coordinator:
        client = SseClient(f"{coordinator.base}/api/v1/reservations/{rid}/events", token).start()
        try:
            _, name, first = client.next(timeout=10)
            assert name == "counters"
            assert (first["queued"], first["in_flight"], first["sent"]) == (6, 0, 0)

            # Two items dispatched and committed: the event is published after the commit, and
            # the stream forwards it well before its fallback poll would have noticed.
            with fleet.session() as db:
                claimed = items.claim(db, rid, 2)
            _, seen = client.wait_for(lambda d: d["in_flight"] == 2, timeout=POLL_SECONDS - 2)
            assert seen["queued"] == 4

            item_id, attempt = claimed[0]
            with fleet.session() as db:
                items.start(db, item_id, attempt, "live-test")
            with fleet.session() as db:
                items.enter_submitting(db, item_id, attempt)
            with fleet.session() as db:
                items.record_outcome(db, item_id, attempt, items.Outcome("sent"))
            _, seen = client.wait_for(lambda d: d["sent"] == 1, timeout=POLL_SECONDS - 2)
            assert (seen["in_flight"], seen["queued"]) == (1, 4)
            assert seen["sends_per_minute"] == 1.0
            assert seen["failed_by_reason"] == {} and seen["skipped_by_reason"] == {}
        finally:
            client.close()


def test_the_stream_ends_after_its_lifetime(fleet: Fleet) -> None:
    rid = fleet.reservation(prospects=1, count=300, senders=1)
    member_token = api_token(fleet, "operator")
    with Coordinator() as coordinator:
        url = f"{coordinator.base}/api/v1/reservations/{rid}/events?max_seconds=1.5"
        client = SseClient(url, member_token).start()
        try:
            names = []
            assert client.ended.wait(timeout=20)
            while True:
                try:
                    names.append(client.next(timeout=0.1)[1])
                except queue.Empty:
                    break
            assert names[0] == "counters" and names[-1] == "end"
        finally:
            client.close()
