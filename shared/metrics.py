"""Fleet-wide metrics, read by one scrape of the coordinator's ``GET /metrics``.

Two sources, so that a scrape sees every worker host without reaching any of them:

* **events**, counted in Redis at the moment they happen (after their transaction commits):
  each finished send (``mikomi_sends_total{status,reason}``) and its duration
  (``mikomi_send_duration_seconds``). Workers on any host add to the same hash. Redis is
  disposable: if it loses them, the counters restart from zero, which Prometheus reads as a
  counter reset;
* **state**, read from the database at scrape time: items by state (from the reservations'
  counters, which change in the same transaction as the items), in-doubt items, live
  workers per host, the dispatch lag, and how long ago the dispatcher and the sweeper last
  beat.

Counting never raises: a metric is not worth a failed send.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared import clock
from shared.db import after_commit
from shared.enums import ItemState, ReservationStatus
from shared.models import FleetWorker, Reservation, SendItem
from shared.redis_conn import get_redis

log = logging.getLogger(__name__)

SENDS_KEY = "mikomi:metrics:sends"
DURATION_KEY = "mikomi:metrics:send_duration"
# Seconds; a send loads three to five pages, on loopback about a second, on the web tens.
DURATION_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 90.0, 120.0)
# A worker process is alive while its heartbeat (every 2 s, worker/heartbeat.py) is this
# fresh: the fleet view and the metrics use this one window.
ALIVE_WITHIN = timedelta(seconds=15)
# Heartbeat rows of the services that are not workers (coordinator/fleet/dispatcher.py,
# coordinator/sweeper.py) carry these states.
SERVICE_STATES = ("dispatcher", "sweeper")


def record_send(
    db: Session, item_id: int, status: str, reason: str | None, seconds: float | None
) -> None:
    """Count a finished send once the transaction that finished it commits."""

    def count() -> None:
        try:
            pipe = get_redis().pipeline()
            pipe.hincrby(SENDS_KEY, f"{status}|{reason or ''}", 1)
            if seconds is not None:
                for bound in DURATION_BUCKETS:
                    if seconds <= bound:
                        pipe.hincrby(DURATION_KEY, f"le:{bound}", 1)
                pipe.hincrby(DURATION_KEY, "count", 1)
                pipe.hincrbyfloat(DURATION_KEY, "sum", seconds)
            pipe.execute()
        except Exception as exc:  # Redis is away: the send is what matters
            log.warning("could not count the send of item %s: %s", item_id, exc)

    after_commit(db, count, key=f"metrics:send:{item_id}")


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _redis_hash(key: str) -> dict[str, str]:
    try:
        raw = get_redis().hgetall(key)
    except Exception as exc:
        log.warning("metrics: Redis unreadable: %s", exc)
        return {}
    return {k.decode(): v.decode() for k, v in raw.items()}


class FleetCollector:
    """A prometheus_client collector reading the two sources above at each scrape."""

    def __init__(self, db: Session, now: datetime | None = None) -> None:
        self.db = db
        self.now = now or clock.now()

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        sends = CounterMetricFamily(
            "mikomi_sends", "Finished sends by outcome", labels=["status", "reason"]
        )
        for field, count in sorted(_redis_hash(SENDS_KEY).items()):
            status, _, reason = field.partition("|")
            sends.add_metric([status, reason], float(count))
        yield sends

        durations = _redis_hash(DURATION_KEY)
        buckets = [(str(b), float(durations.get(f"le:{b}", 0))) for b in DURATION_BUCKETS]
        buckets.append(("+Inf", float(durations.get("count", 0))))
        yield HistogramMetricFamily(
            "mikomi_send_duration_seconds",
            "How long a send took, from the first page to the outcome",
            buckets=buckets,
            sum_value=float(durations.get("sum", 0)),
        )

        totals = self.db.execute(
            select(
                func.coalesce(func.sum(Reservation.queued), 0),
                func.coalesce(func.sum(Reservation.in_flight), 0),
                func.coalesce(func.sum(Reservation.sent), 0),
                func.coalesce(func.sum(Reservation.failed), 0),
                func.coalesce(func.sum(Reservation.skipped), 0),
                func.coalesce(func.sum(Reservation.in_doubt), 0),
            )
        ).one()
        items = GaugeMetricFamily("mikomi_items", "Send items by state", labels=["state"])
        for state, value in zip(
            ("queued", "in_flight", "sent", "failed", "skipped", "in_doubt"), totals, strict=True
        ):
            items.add_metric([state], float(value))
        yield items
        yield GaugeMetricFamily(
            "mikomi_in_doubt_items",
            "Sends waiting for an operator's verdict",
            value=float(totals[5]),
        )

        alive_since = self.now - ALIVE_WITHIN
        alive = GaugeMetricFamily(
            "mikomi_workers_alive", "Worker processes with a recent heartbeat", labels=["host"]
        )
        rows = self.db.execute(
            select(FleetWorker.hostname, func.count())
            .where(
                FleetWorker.heartbeat_at >= alive_since,
                FleetWorker.state.not_in(SERVICE_STATES),
            )
            .group_by(FleetWorker.hostname)
        ).all()
        for host, processes in rows:
            alive.add_metric([host], float(processes))
        yield alive

        oldest = self.db.scalar(
            select(func.min(func.coalesce(SendItem.retry_at, SendItem.created_at)))
            .join(Reservation, Reservation.id == SendItem.reservation_id)
            .where(
                SendItem.state == ItemState.QUEUED.value,
                Reservation.status == ReservationStatus.APPROVED.value,
                Reservation.senders > Reservation.in_flight,
            )
        )
        lag = max(0.0, (self.now - _aware(oldest)).total_seconds()) if oldest else 0.0
        yield GaugeMetricFamily(
            "mikomi_dispatch_lag_seconds",
            "How long the oldest item that could be dispatched now has waited",
            value=lag,
        )

        beats = GaugeMetricFamily(
            "mikomi_service_heartbeat_age_seconds",
            "Seconds since the dispatcher's and the sweeper's last heartbeat",
            labels=["service", "host"],
        )
        for state, host, at in self.db.execute(
            select(FleetWorker.state, FleetWorker.hostname, func.max(FleetWorker.heartbeat_at))
            .where(FleetWorker.state.in_(SERVICE_STATES))
            .group_by(FleetWorker.state, FleetWorker.hostname)
        ).all():
            beats.add_metric([state, host], (self.now - _aware(at)).total_seconds())
        yield beats


def render(db: Session) -> bytes:
    """The Prometheus text exposition of the whole fleet."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(db))
    return generate_latest(registry)
