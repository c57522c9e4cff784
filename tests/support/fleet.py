"""A whole sending fleet on this machine, for the fleet's end-to-end tests and its benchmark.

Real parts only: a fresh committed database (SQLite file or a PostgreSQL database of its own),
a Redis database number of its own (flushed at start and end, nothing else touched), the fixture
server with generated prospect sites, ``python -m worker -n N`` as a subprocess (real RQ worker
processes, each with its own Chromium), and the dispatcher ticking in a thread of this process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from shared import migrate
from shared.config import PROJECT_ROOT, get_settings
from shared.db import make_engine, reset_engine, transaction
from shared.locks import lock_reservation, writer_lock
from shared.metrics import SERVICE_STATES
from shared.models import FleetWorker, Reservation, SendItem
from tests.builders import make_member, make_reservation
from tests.support.databases import create_pg_database, drop_pg_database
from tests.support.processes import alive, wait_until

COUNTERS = ("queued", "in_flight", "sent", "failed", "skipped", "in_doubt")


def redis_db_number() -> int:
    # One Redis database per pytest-xdist worker (10, 11, …), so parallel runs never flush
    # each other's queues; the bench uses 9.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    digits = "".join(ch for ch in worker if ch.isdigit())
    return 10 + int(digits or 0)


@dataclass
class Observation:
    """One look at a reservation: its counters and the item states they count."""

    status: str
    counters: dict[str, int]
    states: dict[str, int]

    def add_up(self) -> bool:
        s = self.states
        expected = {
            "queued": s.get("queued", 0),
            "in_flight": sum(s.get(k, 0) for k in ("dispatched", "running", "submitting")),
            "sent": s.get("sent", 0),
            "failed": s.get("failed", 0),
            "skipped": s.get("skipped", 0),
            "in_doubt": s.get("in_doubt", 0),
        }
        return expected == self.counters


@dataclass
class Fleet:
    tmp: Path
    kind: str = "sqlite"
    generated: int = 50
    lease_seconds: int = 20
    redis_db: int = field(default_factory=redis_db_number)
    tick_s: float = 0.5
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    engine: Engine | None = None
    sessions: sessionmaker[Session] | None = None
    server: Any = None
    workers: subprocess.Popen[bytes] | None = None
    _pg_name: str | None = None
    _saved_env: dict[str, str | None] = field(default_factory=dict)
    _dispatcher_stop: threading.Event | None = None
    _dispatcher: threading.Thread | None = None

    # ------------------------------------------------------------------ setup / teardown

    def start(self, *, extra_env: dict[str, str] | None = None) -> Fleet:
        from fixtures.server import FixtureServer

        if self.kind == "postgresql":
            self._pg_name = f"mikomi_fleet_{uuid.uuid4().hex[:10]}"
            self.url = create_pg_database(self._pg_name)
        else:
            self.url = f"sqlite:///{self.tmp / 'fleet.db'}"
        migrate.upgrade(self.url)
        redis_url = f"redis://127.0.0.1:6379/{self.redis_db}"
        self.env = {
            "MIKOMI_DATABASE_URL": self.url,
            "MIKOMI_REDIS_URL": redis_url,
            "MIKOMI_ALLOW_PRIVATE": "1",
            "MIKOMI_DEMO": "1",  # the only way a service accepts ALLOW_PRIVATE
            "MIKOMI_LEASE_SECONDS": str(self.lease_seconds),
            "MIKOMI_VAR_DIR": str(self.tmp / "var"),
            "MIKOMI_SMTP_HOST": "",
            **(extra_env or {}),
        }
        for key, value in self.env.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        get_settings.cache_clear()
        reset_engine()
        self.redis.flushdb()
        self.engine = make_engine(self.url)
        self.sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.server = FixtureServer(generated=self.generated).start()
        return self

    @property
    def redis(self) -> Redis:
        return Redis.from_url(self.env["MIKOMI_REDIS_URL"])

    def stop(self) -> None:
        self.stop_dispatcher()
        self.stop_workers()
        if self.server is not None:
            self.server.stop()
        with suppress(Exception):
            self.redis.flushdb()
        if self.engine is not None:
            self.engine.dispose()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        reset_engine()
        if self._pg_name:
            drop_pg_database(self._pg_name)

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """A transaction on the fleet's database. One that may write takes SQLite's writer lock
        before its first read (``shared.locks.writer_lock``): the workers, the dispatcher and
        the coordinator commit all the time, and a write after a stale read fails at once."""
        assert self.sessions is not None
        with self.sessions() as db, transaction(db):
            if write:
                writer_lock(db)
            yield db

    # ------------------------------------------------------------------ data

    def generated_sites(self, n: int) -> list[tuple[str, str]]:
        sites = [s for s in self.server.sites if s.generated][:n]
        assert len(sites) == n, f"only {len(sites)} generated sites"
        return [(s.company, s.url) for s in sites]

    def reservation(
        self,
        *,
        prospects: int,
        count: int,
        senders: int,
        status: str = "approved",
        tickets: int | None = None,
    ) -> int:
        with self.session() as db:
            member = make_member(db, tickets=tickets if tickets is not None else max(1000, count))
            reservation = make_reservation(
                db,
                member=member,
                urls=self.generated_sites(prospects),
                count=count,
                senders=senders,
                status=status,
            )
            return reservation.id

    def observe(self, reservation_id: int) -> Observation:
        with self.session(write=False) as db:
            if self.kind == "postgresql":
                # One snapshot for the row and the item states (SQLite's read transaction is
                # one already), or a commit between the two reads would look like a drift.
                db.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            r = db.get(Reservation, reservation_id)
            assert r is not None
            rows = db.execute(
                select(SendItem.state, func.count())
                .where(SendItem.reservation_id == reservation_id)
                .group_by(SendItem.state)
            ).all()
            return Observation(
                status=r.status,
                counters={name: getattr(r, name) for name in COUNTERS},
                states={state: int(n) for state, n in rows},
            )

    def set_reservation(self, reservation_id: int, **values: Any) -> None:
        with self.session() as db:
            reservation = lock_reservation(db, reservation_id)
            for key, value in values.items():
                setattr(reservation, key, value)

    def pause(self, reservation_id: int) -> None:
        from shared import lifecycle

        with self.session() as db:
            reservation = lock_reservation(db, reservation_id)
            lifecycle.change_status(db, reservation, "paused", actor_user_id=None, reason="test")

    def items_in(self, reservation_id: int, *states: str) -> list[SendItem]:
        with self.session() as db:
            return list(
                db.scalars(
                    select(SendItem).where(
                        SendItem.reservation_id == reservation_id, SendItem.state.in_(states)
                    )
                )
            )

    def submissions_by_host(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for sub in self.server.submissions():
            counts[sub["host"]] = counts.get(sub["host"], 0) + 1
        return counts

    # ------------------------------------------------------------------ processes

    def start_workers(self, processes: int) -> None:
        log = (self.tmp / "workers.log").open("ab")
        self.workers = subprocess.Popen(
            [sys.executable, "-m", "worker", "-n", str(processes)],
            cwd=PROJECT_ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop_workers(self, timeout: float = 60) -> None:
        if self.workers is None or self.workers.poll() is not None:
            return
        self.workers.send_signal(signal.SIGTERM)
        try:
            self.workers.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.workers.kill()
            self.workers.wait(timeout=10)
        # the spawned workers run in their own process groups; none may outlive the test
        for pid in self.worker_pids(alive_only=False):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def worker_pids(self, alive_only: bool = True) -> list[int]:
        with self.session() as db:
            # Worker processes only: the dispatcher this harness runs in a thread beats too.
            pids = [
                w.pid
                for w in db.scalars(
                    select(FleetWorker).where(FleetWorker.state.not_in(SERVICE_STATES))
                )
            ]
        return [p for p in pids if not alive_only or alive(p)]

    def wait_for_workers(self, n: int, timeout: float = 60) -> None:
        wait_until(lambda: len(self.worker_pids()) >= n, timeout, f"{n} workers beating")

    def start_dispatcher(self) -> None:
        from coordinator.fleet.dispatcher import run_forever

        self._dispatcher_stop = threading.Event()
        self._dispatcher = threading.Thread(
            target=run_forever,
            kwargs={"interval_s": self.tick_s, "stop": self._dispatcher_stop},
            daemon=True,
        )
        self._dispatcher.start()

    def stop_dispatcher(self) -> None:
        if self._dispatcher_stop is not None and self._dispatcher is not None:
            self._dispatcher_stop.set()
            self._dispatcher.join(timeout=30)
            self._dispatcher = None

    def tick(self) -> dict[str, Any]:
        from coordinator.fleet.dispatcher import tick

        assert self.sessions is not None
        db = self.sessions()
        try:
            return tick(db)
        finally:
            db.close()
