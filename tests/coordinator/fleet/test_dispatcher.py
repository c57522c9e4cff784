"""The dispatcher's tick on both engines, with a real Redis queue of its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.fleet import dispatcher
from shared import clock
from shared.models import SendItem
from tests.builders import assert_counters_add_up, make_reservation
from tests.support.fleet import redis_db_number


@pytest.fixture
def queue() -> Iterator[Queue]:
    connection = Redis.from_url(f"redis://127.0.0.1:6379/{redis_db_number()}")
    connection.flushdb()
    yield dispatcher.get_queue(connection)
    connection.flushdb()


def _dispatched(db: Session, reservation_id: int) -> dict[int, str]:
    rows = db.execute(
        select(SendItem.id, SendItem.attempt_token).where(
            SendItem.reservation_id == reservation_id, SendItem.state == "dispatched"
        )
    ).all()
    return {item_id: token for item_id, token in rows}


def test_tick_keeps_senders_in_flight_and_enqueues_one_job_each(db: Session, queue: Queue) -> None:
    reservation = make_reservation(db, items=10, senders=3)
    result = dispatcher.tick(db, queue=queue)
    assert result["dispatched"] == 3
    dispatched = _dispatched(db, reservation.id)
    assert len(dispatched) == 3
    jobs = {job.id: job for job in queue.get_jobs()}
    for item_id, token in dispatched.items():
        job = jobs[dispatcher.job_id(item_id, token)]
        assert job.func_name == "worker.jobs.send_item"
        assert list(job.args) == [item_id, token]
    assert dispatcher.tick(db, queue=queue)["dispatched"] == 0  # full until items finish
    reservation.senders = 5
    db.flush()
    assert dispatcher.tick(db, queue=queue)["dispatched"] == 2  # the next tick honours it
    assert_counters_add_up(db, reservation.id)


def test_jobs_lost_with_redis_are_redispatched_with_new_tokens(db: Session, queue: Queue) -> None:
    reservation = make_reservation(db, items=5, senders=2)
    dispatcher.tick(db, queue=queue)
    before = _dispatched(db, reservation.id)
    queue.connection.flushdb()  # Redis loses everything
    assert dispatcher.tick(db, queue=queue)["redispatched"] == 0  # within the grace period
    clock.advance(dispatcher.LOST_JOB_GRACE + timedelta(seconds=1))
    assert dispatcher.tick(db, queue=queue)["redispatched"] == 2
    after = _dispatched(db, reservation.id)
    assert after.keys() == before.keys()
    for item_id, token in after.items():
        assert token != before[item_id]
        assert Job.exists(dispatcher.job_id(item_id, token), connection=queue.connection)
    assert dispatcher.tick(db, queue=queue)["redispatched"] == 0  # the new jobs are there


def test_tick_reaps_expired_leases(db: Session, queue: Queue) -> None:
    reservation = make_reservation(db, items=3, senders=1)
    dispatcher.tick(db, queue=queue)
    first = set(_dispatched(db, reservation.id))
    clock.advance(timedelta(hours=1))
    result = dispatcher.tick(db, queue=queue)
    assert result["reaped"]["requeued"] == 1
    assert result["dispatched"] == 1
    assert_counters_add_up(db, reservation.id)
    assert len(first) == 1


def test_send_window_in_japan_time(db: Session, queue: Queue) -> None:
    window = {"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"}  # the API's form
    monday_10_jst = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    assert dispatcher.in_send_window(window, monday_10_jst)
    assert not dispatcher.in_send_window(window, monday_10_jst + timedelta(hours=8))  # 18:00
    assert not dispatcher.in_send_window(window, monday_10_jst - timedelta(days=1))  # Sunday
    assert dispatcher.in_send_window(None, monday_10_jst - timedelta(days=1))

    reservation = make_reservation(db, items=3, senders=2)
    reservation.send_window = window
    db.flush()
    clock.set_clock(monday_10_jst - timedelta(days=1))
    result = dispatcher.tick(db, queue=queue)
    assert result["dispatched"] == 0 and result["outside_window"] >= 1
    clock.set_clock(monday_10_jst)
    assert dispatcher.tick(db, queue=queue)["dispatched"] == 2
