"""Rehearsals of several hosts on one machine (docs/operations.md#rehearsing-several-hosts-on-one-machine):
the coordinator host (PostgreSQL, Redis, an S3 store, the coordinator and the dispatcher) in this
network namespace, each worker host in a network namespace of its own with its own host name,
joined to the coordinator host by a veth pair on a private link-local /30 that the test creates
and removes.

A worker host reaches the database, Redis and the store only over its link (its own loopback
has none of them); the prospects' websites (the fixture server) run on the worker host, as the
internet it sends to. The first rehearsal sends a reservation end to end from one worker host
and imports a CSV uploaded to the coordinator on that host's import worker. The second runs
two worker hosts and cuts one host's link in the middle of a reservation, then brings it back.

Skipped, with the reason, where network namespaces cannot be created (not root, no ``ip``).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from redis import Redis
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import sessionmaker

from coordinator.accounts import service as accounts
from shared import migrate
from shared.config import PROJECT_ROOT
from shared.db import make_engine
from shared.enums import Role
from shared.models import FleetWorker, Prospect, Reservation, SendAttempt, SendItem
from tests.builders import make_member, make_reservation
from tests.support.databases import create_pg_database, drop_pg_database
from tests.support.fleet import redis_db_number
from tests.support.processes import alive, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

MIKOMI = str(Path(sys.executable).with_name("mikomi"))
BUCKET = "mikomi-two-hosts"
FINAL = ("sent", "failed", "skipped", "in_doubt", "cancelled")
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=20)


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


class Forwarder:
    """A TCP relay from ``listen`` (the coordinator host's end of a link) to a service that
    listens on loopback only (the machine's PostgreSQL and Redis, the S3 store): the worker
    host reaches them as it would reach another machine."""

    def __init__(self, listen: str, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server((listen, 0))
        self.server.settimeout(0.5)
        self.port = int(self.server.getsockname()[1])
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.stop.set()
        self.server.close()


@dataclass
class WorkerHost:
    """One worker host: a network namespace, its link, its name and its settings."""

    hostname: str
    ns: str
    host_if: str
    coordinator_ip: str  # the coordinator host's end of the link
    env: dict[str, str] = field(default_factory=dict)

    def cut(self) -> None:
        _run("ip", "link", "set", self.host_if, "down")

    def restore(self) -> None:
        _run("ip", "link", "set", self.host_if, "up")


def _check_netns() -> None:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (ip netns add)")
    if shutil.which("ip") is None or shutil.which("unshare") is None:
        pytest.skip("the ip and unshare commands are not installed")


class Rehearsal:
    """The coordinator host's parts in this namespace, and worker hosts added one by one."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.hosts: list[WorkerHost] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.forwarders: list[Forwarder] = []
        self.pg_name = ""
        self.engine: Engine | None = None
        self.s3: Any = None
        self.redis_db = redis_db_number()
        self.redis = Redis.from_url(f"redis://127.0.0.1:6379/{self.redis_db}")
        self.base = ""

    # --- setup and teardown

    def start(self) -> Rehearsal:
        from moto.server import ThreadedMotoServer

        self.pg_name = f"mikomi_hosts_{uuid.uuid4().hex[:8]}"
        self.url = create_pg_database(self.pg_name)
        migrate.upgrade(self.url)
        self.engine = make_engine(self.url)
        self.sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.redis.flushdb()
        self.s3_port = _free_port("127.0.0.1")
        self.s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=self.s3_port, verbose=False)
        self.s3.start()
        self.bucket_client().create_bucket(Bucket=BUCKET)
        self.common = {
            **AWS,
            "MIKOMI_EVIDENCE_URL": f"s3://{BUCKET}/fleet",
            "MIKOMI_ALLOW_PRIVATE": "1",
            "MIKOMI_DEMO": "1",  # the only way a service accepts ALLOW_PRIVATE
            "MIKOMI_SMTP_HOST": "",
            "MIKOMI_LEASE_SECONDS": "15",
            # A host cut off inside a transaction lets go of its row locks this soon.
            "MIKOMI_DB_IDLE_IN_TRANSACTION_S": "10",
            "MIKOMI_LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
        }
        self.coordinator_env = {
            **self.common,
            "MIKOMI_DATABASE_URL": self.url,
            "MIKOMI_REDIS_URL": f"redis://127.0.0.1:6379/{self.redis_db}",
            "MIKOMI_S3_ENDPOINT_URL": f"http://127.0.0.1:{self.s3_port}",
            "MIKOMI_VAR_DIR": str(self.tmp / "coordinator-var"),
        }
        return self

    def bucket_client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.s3_port}",
            aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"],
            region_name=AWS["AWS_DEFAULT_REGION"],
        )

    def add_host(self, hostname: str) -> WorkerHost:
        """A network namespace joined by a veth /30 on 169.254.x; the worker host knows the
        coordinator host only by that link's address."""
        tag = uuid.uuid4().hex[:6]
        subnet = 1 + int(tag, 16) % 250
        host = WorkerHost(hostname, f"mikomi-{tag}", f"mkh{tag}", f"169.254.{subnet}.1")
        try:
            _run("ip", "netns", "add", host.ns)
        except (subprocess.CalledProcessError, OSError) as exc:
            pytest.skip(f"cannot create a network namespace here: {exc}")
        self.hosts.append(host)
        peer = f"mkw{tag}"
        inside = ("ip", "netns", "exec", host.ns)
        _run("ip", "link", "add", host.host_if, "type", "veth", "peer", "name", peer)
        _run("ip", "link", "set", peer, "netns", host.ns)
        _run("ip", "addr", "add", f"{host.coordinator_ip}/30", "dev", host.host_if)
        _run("ip", "link", "set", host.host_if, "up")
        _run(*inside, "ip", "addr", "add", f"169.254.{subnet}.2/30", "dev", peer)
        _run(*inside, "ip", "link", "set", peer, "up")
        _run(*inside, "ip", "link", "set", "lo", "up")
        pg, rd, s3 = (
            Forwarder(host.coordinator_ip, ("127.0.0.1", port))
            for port in (5432, 6379, self.s3_port)
        )
        self.forwarders += [pg, rd, s3]
        c_ip = host.coordinator_ip
        host.env = {
            **self.common,
            "MIKOMI_DATABASE_URL": self.url.replace("127.0.0.1:5432", f"{c_ip}:{pg.port}"),
            "MIKOMI_REDIS_URL": f"redis://{c_ip}:{rd.port}/{self.redis_db}",
            "MIKOMI_S3_ENDPOINT_URL": f"http://{c_ip}:{s3.port}",
            "MIKOMI_VAR_DIR": str(self.tmp / f"{hostname}-var"),
        }
        return host

    def run(self, name: str, args: list[str], host: WorkerHost | None = None) -> None:
        """A process on the coordinator host, or on ``host`` under that host's name."""
        env = self.coordinator_env if host is None else host.env
        if host is not None:
            args = [
                "ip", "netns", "exec", host.ns, "unshare", "--uts", "sh", "-c",
                f'hostname {host.hostname} && exec "$@"', "sh", *args,
            ]  # fmt: skip
        log = (self.tmp / f"{name}.log").open("ab")
        self.procs.append(
            subprocess.Popen(
                args,
                cwd=PROJECT_ROOT,
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    def serve_sites(self, host: WorkerHost, generated: int, port: int) -> tuple[Path, Path]:
        """The prospects' websites as seen from ``host``; → (its submissions log, its CSV)."""
        log, exported = self.tmp / f"{host.hostname}-sent.jsonl", self.tmp / f"{host.hostname}.csv"
        self.run(
            f"{host.hostname}-sites",
            [MIKOMI, "fixtures", "serve", "--port", str(port), "--generated", str(generated),
             "--log", str(log), "--export-prospects", str(exported)],
            host,
        )  # fmt: skip
        wait_until(lambda: exported.exists() and exported.stat().st_size > 0, 60, "the sites")
        return log, exported

    def start_coordinator(self, address: str) -> None:
        http_port = _free_port(address)
        self.run(
            "coordinator", [MIKOMI, "coordinator", "--host", address, "--port", str(http_port)]
        )
        self.run("dispatcher", [MIKOMI, "dispatcher", "--interval", "0.5"])
        self.base = f"http://{address}:{http_port}"
        wait_until(self._healthy, 90, "the coordinator")

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        if self.engine is not None:
            # The worker supervisor's processes run in process groups of their own: none may
            # outlive the test (each is known by the pid in its heartbeat).
            with suppress(Exception), self.sessions() as db:
                for pid in db.scalars(select(FleetWorker.pid)).all():
                    if pid and pid != os.getpid() and alive(pid):
                        with suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
            self.engine.dispose()
        for forwarder in self.forwarders:
            forwarder.close()
        if self.s3 is not None:
            self.s3.stop()
        with suppress(Exception):
            self.redis.flushdb()
        if self.pg_name:
            drop_pg_database(self.pg_name)
        for host in self.hosts:
            with suppress(Exception):
                _run("ip", "netns", "del", host.ns)  # its veth end, and so the pair, goes too
            with suppress(Exception):
                _run("ip", "link", "del", host.host_if)

    # --- data

    def reservation(self, sites: list[tuple[str, str]], senders: int) -> tuple[int, dict, dict]:  # type: ignore[type-arg]
        """An approved reservation of ``sites``; → (its id, the owner's and an operator's
        API headers)."""
        with self.sessions() as db:
            member = make_member(db)
            reservation = make_reservation(
                db, member=member, urls=sites, count=max(300, len(sites)), senders=senders
            )
            owner = accounts.create_user(
                db, email="owner@example.test", password="password-123", role=Role.MEMBER,
                company="x",
            )  # fmt: skip
            owner.member_id = member.id
            operator = accounts.create_user(
                db, email="op@example.test", password="password-123", role=Role.OPERATOR
            )
            mine = {"Authorization": f"Bearer {accounts.issue_token(db, owner, 'api')[0]}"}
            ops = {"Authorization": f"Bearer {accounts.issue_token(db, operator, 'api')[0]}"}
            db.commit()
            return reservation.id, mine, ops

    def states(self, reservation_id: int) -> Counter[str]:
        with self.sessions() as db:
            return Counter(
                db.scalars(select(SendItem.state).where(SendItem.reservation_id == reservation_id))
            )

    def diagnosis(self, reservation_id: int) -> str:
        """What a timed-out wait saw: the item states and the database sessions that wait on a
        lock or sit inside a transaction."""
        with self.sessions() as db:
            sessions = db.execute(
                text(
                    "SELECT pid, state, wait_event_type, wait_event, "
                    "now() - xact_start AS age, left(query, 80) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND (state LIKE 'idle in transaction%' OR wait_event_type = 'Lock')"
                )
            ).all()
        return (
            f"states {dict(self.states(reservation_id))}; sessions {[tuple(r) for r in sessions]}"
        )

    def finished_by(self, reservation_id: int) -> dict[int, str]:
        """Each final item → the worker id of its last attempt."""
        with self.sessions() as db:
            rows = db.execute(
                select(SendAttempt.item_id, SendAttempt.worker_id)
                .where(SendAttempt.reservation_id == reservation_id)
                .where(SendAttempt.finished_at.is_not(None))
                .order_by(SendAttempt.id)
            ).all()
        return {item_id: worker for item_id, worker in rows}


def generated_sites(exported: Path, n: int) -> list[tuple[str, str]]:
    rows = list(csv.DictReader(exported.open(encoding="utf-8-sig")))
    sites = [(r["company"], r["url"]) for r in rows if "gen-" in r["url"]][:n]
    assert len(sites) == n
    return sites


def received(*logs: Path) -> Counter[str]:
    """How many final submissions each site host received, over every host's sites."""
    hosts: Counter[str] = Counter()
    for log in logs:
        if log.exists():
            for line in log.read_text().splitlines():
                hosts[json.loads(line)["host"].split(":")[0]] += 1
    return hosts


def served_evidence(client: httpx.Client, rid: int, headers: dict, item_ids: set[int]) -> int:  # type: ignore[type-arg]
    """Fetch, as the owner, one screenshot of each of ``item_ids`` from the coordinator."""
    page = client.get(f"/api/v1/reservations/{rid}/items?per_page=200", headers=headers).json()
    served = 0
    for item in page["items"]:
        if item["id"] not in item_ids:
            continue
        shot = next(
            link for link in item["evidence_links"] if link.endswith((".jpg", ".jpeg", ".png"))
        )
        answer = client.get(shot, headers=headers)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/")
        served += 1
    return served


@pytest.fixture
def rehearsal(tmp_path: Path) -> Iterator[Rehearsal]:
    _check_netns()
    made = Rehearsal(tmp_path)
    try:
        yield made.start()
    finally:
        made.close()


def test_a_worker_host_sends_and_imports_over_the_link(rehearsal: Rehearsal) -> None:
    sites_n = 3
    host = rehearsal.add_host("mikomi-host-b")
    port = 18_000 + int(uuid.uuid4().int % 2000)
    submissions, exported = rehearsal.serve_sites(host, sites_n, port)
    rehearsal.run("worker", [MIKOMI, "worker", "-n", "1"], host)
    rehearsal.run("import-worker", [MIKOMI, "import-worker"], host)
    # The coordinator listens on its end of the link (the test reaches it there too).
    rehearsal.start_coordinator(host.coordinator_ip)

    sites = generated_sites(exported, sites_n)
    rid, mine, ops = rehearsal.reservation(sites, senders=2)
    with rehearsal.sessions() as db:
        prospects_before = db.scalar(select(func.count()).select_from(Prospect))

    # --- a reservation, sent from the worker host
    wait_until(
        lambda: sum(rehearsal.states(rid)[s] for s in FINAL) == sites_n,
        240,
        "every item sent from the worker host",
        every=1,
    )
    assert rehearsal.states(rid) == {"sent": sites_n}
    with rehearsal.sessions() as db:
        assert db.get(Reservation, rid).sent == sites_n  # type: ignore[union-attr]
        assert host.hostname in db.scalars(select(FleetWorker.hostname)).all()
    # Each site received its message once.
    assert received(submissions) == Counter({httpx.URL(u).host: 1 for _, u in sites})

    with httpx.Client(base_url=rehearsal.base, timeout=30) as client:
        # The evidence went to the shared store; the coordinator serves it to the owner.
        assert served_evidence(client, rid, mine, set(rehearsal.finished_by(rid))) == sites_n
        listed = rehearsal.bucket_client().list_objects_v2(Bucket=BUCKET, Prefix=f"fleet/{rid}/")
        assert len({o["Key"].split("/")[2] for o in listed["Contents"]}) == sites_n
        assert not (rehearsal.tmp / "coordinator-var" / "evidence").exists()

        # --- an import: uploaded to the coordinator, run on the worker host
        resp = client.post(
            "/api/v1/prospects/import?filename=sites.csv",
            content=exported.read_bytes(),
            headers={**ops, "Content-Type": "text/csv"},
        )
        assert resp.status_code == 202, resp.text
        job_id = resp.json()["id"]

        def job() -> dict:  # type: ignore[type-arg]
            return dict(client.get(f"/api/v1/prospects/imports/{job_id}", headers=ops).json())

        wait_until(lambda: job()["status"] != "running", 120, "the import", every=0.5)
        done = job()
    rows = list(csv.DictReader(exported.open(encoding="utf-8-sig")))
    assert done["status"] == "done", done
    assert done["rows_total"] == len(rows)
    assert done["rows_duplicate"] >= sites_n  # the reservation's prospects were there already
    taken_by = Job.fetch(f"import-{job_id}", connection=rehearsal.redis, serializer=JSONSerializer)
    assert (taken_by.worker_name or "").startswith(f"import-{host.hostname}-")
    with rehearsal.sessions() as db:
        after = db.scalar(select(func.count()).select_from(Prospect))
    assert after == prospects_before + done["rows_imported"]


def test_a_host_that_loses_its_link_mid_run_leaves_its_items_to_the_other(
    rehearsal: Rehearsal,
) -> None:
    # 300 items, as an operator's first real reservation would be; MIKOMI_REHEARSAL_ITEMS
    # makes a shorter rehearsal while working on it.
    sites_n = int(os.environ.get("MIKOMI_REHEARSAL_ITEMS", "300"))
    b = rehearsal.add_host("mikomi-host-b")
    c = rehearsal.add_host("mikomi-host-c")
    port = 18_000 + int(uuid.uuid4().int % 2000)
    # The same websites answer on both hosts (the internet looks the same from each).
    b_log, exported = rehearsal.serve_sites(b, sites_n, port)
    c_log, _ = rehearsal.serve_sites(c, sites_n, port)
    for host in (b, c):
        rehearsal.run(f"{host.hostname}-worker", [MIKOMI, "worker", "-n", "1"], host)
    rehearsal.start_coordinator("127.0.0.1")
    rid, mine, ops = rehearsal.reservation(generated_sites(exported, sites_n), senders=4)

    def holding(hostname: str) -> set[int]:
        """Items in flight whose open attempt is on ``hostname``."""
        with rehearsal.sessions() as db:
            open_attempts = db.execute(
                select(SendAttempt.item_id, SendAttempt.worker_id)
                .join(SendItem, SendItem.id == SendAttempt.item_id)
                .where(SendItem.reservation_id == rid)
                .where(SendItem.state.in_(("running", "submitting")))
                .where(SendAttempt.finished_at.is_(None))
            ).all()
        return {item for item, worker in open_attempts if worker.startswith(f"{hostname}-")}

    def done_by(hostname: str) -> int:
        return sum(1 for w in rehearsal.finished_by(rid).values() if w.startswith(f"{hostname}-"))

    # Both hosts at work; then host b loses its network while it holds a send.
    wait_until(lambda: done_by(b.hostname) >= 2 and done_by(c.hostname) >= 2, 240, "both hosts")
    held: set[int] = set()
    for _ in range(5):  # a send may end between the look and the cut: look again
        wait_until(lambda: bool(holding(b.hostname)), 120, "host b holding a send", every=0.1)
        b.cut()
        held = holding(b.hostname)  # read after the cut: b can no longer finish these
        if held:
            break
        b.restore()
    try:
        wait_until(
            lambda: sum(rehearsal.states(rid)[s] for s in FINAL) == sites_n,
            420,
            "every item finished while host b is cut off",
            every=1,
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {rehearsal.diagnosis(rid)}") from None
    b.restore()

    states = rehearsal.states(rid)
    assert sum(states[s] for s in FINAL) == sites_n
    assert states["sent"] + states["in_doubt"] == sites_n, states
    # Nothing was submitted twice, across both hosts' views of the websites.
    got = received(b_log, c_log)
    assert got and max(got.values()) == 1, got
    with rehearsal.sessions() as db:
        sent_hosts = {
            httpx.URL(url).host
            for url in db.scalars(
                select(SendItem.url).where(SendItem.reservation_id == rid, SendItem.state == "sent")
            )
        }
        held_states = dict(
            db.execute(select(SendItem.id, SendItem.state).where(SendItem.id.in_(held))).all()
        )
    assert sent_hosts <= set(got)
    # Host b's leases ran out: what it held was sent by host c, or (if b was past the point of
    # no return) is 送信結果不明 — never sent a second time.
    finished = rehearsal.finished_by(rid)
    assert held, "host b never held a send at the moment of a cut"
    for item in held:
        assert held_states[item] == "in_doubt" or (
            held_states[item] == "sent" and finished[item].startswith(f"{c.hostname}-")
        ), (item, held_states[item], finished.get(item))
    by_host = Counter(re.sub(r"-\d+$", "", worker) for worker in finished.values())
    assert by_host[c.hostname] > by_host[b.hostname] >= 2, by_host

    with httpx.Client(base_url=rehearsal.base, timeout=30) as client:
        # Evidence from both hosts, served by the coordinator.
        sent_ids = {i for i, w in finished.items() if w.startswith(f"{b.hostname}-")}
        other_ids = {i for i, w in finished.items() if w.startswith(f"{c.hostname}-")}
        with rehearsal.sessions() as db:
            sent_only = set(
                db.scalars(
                    select(SendItem.id).where(
                        SendItem.reservation_id == rid, SendItem.state == "sent"
                    )
                )
            )
        assert served_evidence(client, rid, mine, {next(iter(sent_ids & sent_only))}) == 1
        assert served_evidence(client, rid, mine, {next(iter(other_ids & sent_only))}) == 1

        # Back on the network, host b beats again: /metrics shows both hosts.
        def metrics_hosts() -> set[str]:
            text = client.get("/metrics", headers=ops).text
            return set(re.findall(r'mikomi_workers_alive\{host="([^"]+)"\} [1-9]', text))

        wait_until(lambda: {b.hostname, c.hostname} <= metrics_hosts(), 90, "both hosts alive")


# A process on a worker host: connected, it waits for the test to cut the link, then makes one
# call over it and says how that ended.
_CALL_AFTER_CUT = """
import sys, time
from sqlalchemy import text
from shared.db import make_engine
from shared.redis_conn import get_redis

if sys.argv[1] == "database":
    connection = make_engine().connect()
    connection.execute(text("SELECT 1"))
    call = lambda: connection.execute(text("SELECT 1"))
else:
    from rq import Worker

    # The connection as an RQ worker has it: RQ raises its read timeout above the dequeue's
    # wait (415 s), for every call the process makes on it.
    redis = Worker(["mikomi-never-filled"], connection=get_redis()).connection
    redis.ping()
    call = lambda: redis.blpop("mikomi-never-filled", timeout=0)  # a blocking read, as RQ's
print("connected", flush=True)
sys.stdin.readline()
started = time.monotonic()
try:
    call()
    print("answered", flush=True)
except Exception as exc:
    print(f"failed {time.monotonic() - started:.1f} {type(exc).__name__}", flush=True)
"""


@pytest.mark.timeout(150)
@pytest.mark.parametrize(
    ("link", "error"),
    [("database", "OperationalError"), ("redis", "ConnectionError")],
)
def test_a_host_cut_off_hears_of_it_within_its_link_timeout(
    rehearsal: Rehearsal, link: str, error: str
) -> None:
    """A worker host whose link goes down in the middle of its work: its next database
    statement, or the blocking read it waits in on Redis, fails after MIKOMI_LINK_TIMEOUT_S
    instead of after the kernel's TCP retransmissions (about 15 minutes) or RQ's read timeout
    (415 s), so the process gets on with its own recovery
    (docs/operations.md#several-machines)."""
    host = rehearsal.add_host("b")
    process = subprocess.Popen(
        ["ip", "netns", "exec", host.ns, sys.executable, "-c", _CALL_AFTER_CUT, link],
        cwd=PROJECT_ROOT,
        env={**os.environ, **host.env, "MIKOMI_LINK_TIMEOUT_S": "4"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        assert process.stdout.readline().strip() == "connected"
        host.cut()
        cut_at = time.monotonic()
        process.stdin.write("\n")
        process.stdin.flush()
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout=45)
        waited = time.monotonic() - cut_at
        assert lines, f"no answer and no error {waited:.0f} s after the link went down"
        word, seconds, *raised = lines[0].split()
        assert word == "failed", lines[0]
        assert 3.0 <= float(seconds) <= 15.0, lines[0]
        assert raised == [error], lines[0]
    finally:
        process.kill()
        process.wait(timeout=10)
        host.restore()
