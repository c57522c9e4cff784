"""A rehearsal of two hosts on one machine (docs/operations.md#several-machines): the
coordinator host (PostgreSQL, Redis, an S3 store, the coordinator and the dispatcher) in this
network namespace, a worker host in a network namespace of its own with its own host name,
joined by a veth pair on a private link-local /30 that the test creates and removes.

The worker host reaches the database, Redis and the store only over the veth link (its own
loopback has none of them); the prospects' websites (the fixture server) run on the worker
host, as the internet it sends to. Through that link: a reservation is sent end to end
(what the sites received, the evidence in the shared store and served by the coordinator, the
worker host's heartbeat), and a prospect CSV uploaded to the coordinator is imported by the
import worker on the worker host.

Skipped, with the reason, where network namespaces cannot be created (not root, no ``ip``).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import httpx
import pytest
from redis import Redis
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from coordinator.accounts import service as accounts
from shared import migrate
from shared.config import PROJECT_ROOT
from shared.db import make_engine
from shared.enums import Role
from shared.models import FleetWorker, Prospect, Reservation, SendItem
from tests.builders import make_member, make_reservation
from tests.support.databases import create_pg_database, drop_pg_database
from tests.support.fleet import redis_db_number
from tests.support.processes import alive, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

MIKOMI = str(Path(sys.executable).with_name("mikomi"))
WORKER_HOST = "mikomi-host-b"
BUCKET = "mikomi-two-hosts"
SITES = 3


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=20)


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


class Forwarder:
    """A TCP relay from ``listen`` (the coordinator host's veth address) to a service that
    listens on loopback only (the machine's PostgreSQL and Redis): the worker host reaches
    them as it would reach another machine."""

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
            upstream = socket.create_connection(self.target)
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
class Hosts:
    tmp: Path
    ns: str
    host_if: str
    coordinator_ip: str
    worker_ip: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    closers: list[object] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str], *, on_worker_host: bool):
        """A process on one of the two hosts; the worker host's processes get its name."""
        if on_worker_host:
            args = [
                "ip", "netns", "exec", self.ns, "unshare", "--uts", "sh", "-c",
                f'hostname {WORKER_HOST} && exec "$@"', "sh", *args,
            ]  # fmt: skip
        log = (self.tmp / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            args, cwd=PROJECT_ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )
        self.procs.append(proc)
        return proc


def _netns_or_skip() -> Hosts:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (ip netns add)")
    if shutil.which("ip") is None or shutil.which("unshare") is None:
        pytest.skip("the ip and unshare commands are not installed")
    tag = uuid.uuid4().hex[:6]
    subnet = 1 + int(tag, 16) % 250
    hosts = Hosts(
        tmp=Path(),
        ns=f"mikomi-{tag}",
        host_if=f"mkh{tag}",
        coordinator_ip=f"169.254.{subnet}.1",
        worker_ip=f"169.254.{subnet}.2",
    )
    try:
        _run("ip", "netns", "add", hosts.ns)
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"cannot create a network namespace here: {exc}")
    try:
        peer = f"mkw{tag}"
        _run("ip", "link", "add", hosts.host_if, "type", "veth", "peer", "name", peer)
        _run("ip", "link", "set", peer, "netns", hosts.ns)
        _run("ip", "addr", "add", f"{hosts.coordinator_ip}/30", "dev", hosts.host_if)
        _run("ip", "link", "set", hosts.host_if, "up")
        inside = ("ip", "netns", "exec", hosts.ns)
        _run(*inside, "ip", "addr", "add", f"{hosts.worker_ip}/30", "dev", peer)
        _run(*inside, "ip", "link", "set", peer, "up")
        _run(*inside, "ip", "link", "set", "lo", "up")
    except BaseException:
        _remove_netns(hosts)
        raise
    return hosts


def _remove_netns(hosts: Hosts) -> None:
    with suppress(Exception):
        _run("ip", "netns", "del", hosts.ns)  # takes its veth end, and so the pair, with it
    with suppress(Exception):
        _run("ip", "link", "del", hosts.host_if)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[Hosts]:
    made = _netns_or_skip()
    made.tmp = tmp_path
    try:
        yield made
    finally:
        for proc in reversed(made.procs):
            _stop(proc)
        for closer in made.closers:
            with suppress(Exception):
                closer.close()  # type: ignore[attr-defined]
        _remove_netns(made)


def test_a_worker_host_sends_and_imports_over_the_link(hosts: Hosts) -> None:
    from moto.server import ThreadedMotoServer

    c_ip = hosts.coordinator_ip
    pg_name = f"mikomi_hosts_{uuid.uuid4().hex[:8]}"
    url = create_pg_database(pg_name)
    redis_db = redis_db_number()
    redis = Redis.from_url(f"redis://127.0.0.1:6379/{redis_db}")
    redis.flushdb()
    engine = make_engine(url)
    moto_port = _free_port(c_ip)
    s3 = ThreadedMotoServer(ip_address=c_ip, port=moto_port, verbose=False)
    s3.start()
    try:
        migrate.upgrade(url)
        aws = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        endpoint = f"http://{c_ip}:{moto_port}"
        boto3.client("s3", endpoint_url=endpoint, **_aws_args(aws)).create_bucket(Bucket=BUCKET)
        pg = Forwarder(c_ip, ("127.0.0.1", 5432))
        rd = Forwarder(c_ip, ("127.0.0.1", 6379))
        hosts.closers += [pg, rd]
        common = {
            **aws,
            "MIKOMI_EVIDENCE_URL": f"s3://{BUCKET}/fleet",
            "MIKOMI_S3_ENDPOINT_URL": endpoint,
            "MIKOMI_ALLOW_PRIVATE": "1",
            "MIKOMI_DEMO": "1",  # the only way a service accepts ALLOW_PRIVATE
            "MIKOMI_SMTP_HOST": "",
            "MIKOMI_LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
        }
        coordinator_env = {
            **common,
            "MIKOMI_DATABASE_URL": url,
            "MIKOMI_REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}",
            "MIKOMI_VAR_DIR": str(hosts.tmp / "coordinator-var"),
        }
        # The worker host knows the coordinator host only by its veth address.
        worker_env = {
            **common,
            "MIKOMI_DATABASE_URL": url.replace("127.0.0.1:5432", f"{c_ip}:{pg.port}"),
            "MIKOMI_REDIS_URL": f"redis://{c_ip}:{rd.port}/{redis_db}",
            "MIKOMI_VAR_DIR": str(hosts.tmp / "worker-var"),
        }
        sessions = sessionmaker(bind=engine, expire_on_commit=False)

        # --- the worker host: the prospects' websites, a sending worker, an import worker
        site_port = 18_000 + int(uuid.uuid4().int % 2000)
        submissions = hosts.tmp / "submissions.jsonl"
        exported = hosts.tmp / "sites.csv"
        hosts.start(
            "fixtures",
            [MIKOMI, "fixtures", "serve", "--port", str(site_port), "--generated", str(SITES),
             "--log", str(submissions), "--export-prospects", str(exported)],
            worker_env,
            on_worker_host=True,
        )  # fmt: skip
        wait_until(lambda: exported.exists() and exported.stat().st_size > 0, 60, "the sites")
        hosts.start("worker", [MIKOMI, "worker", "-n", "1"], worker_env, on_worker_host=True)
        hosts.start("import-worker", [MIKOMI, "import-worker"], worker_env, on_worker_host=True)

        # --- the coordinator host: coordinator (on the link address) and dispatcher
        http_port = _free_port(c_ip)
        hosts.start(
            "coordinator",
            [MIKOMI, "coordinator", "--host", c_ip, "--port", str(http_port)],
            coordinator_env,
            on_worker_host=False,
        )
        hosts.start(
            "dispatcher",
            [MIKOMI, "dispatcher", "--interval", "0.5"],
            coordinator_env,
            on_worker_host=False,
        )
        base = f"http://{c_ip}:{http_port}"
        wait_until(lambda: _healthy(base), 90, "the coordinator")

        with sessions() as db:
            rows = list(csv.DictReader(exported.open(encoding="utf-8-sig")))
            generated = [(r["company"], r["url"]) for r in rows if "gen-" in r["url"]][:SITES]
            assert len(generated) == SITES
            member = make_member(db)
            reservation = make_reservation(db, member=member, urls=generated, count=300, senders=2)
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
            rid = reservation.id
            prospects_before = db.scalar(select(func.count()).select_from(Prospect))
            db.commit()

        # --- a reservation, sent from the worker host
        def final(db: Session) -> int:
            return int(
                db.scalar(
                    select(func.count())
                    .select_from(SendItem)
                    .where(SendItem.reservation_id == rid)
                    .where(SendItem.state.in_(("sent", "failed", "skipped", "in_doubt")))
                )
                or 0
            )

        def all_final() -> bool:
            with sessions() as db:
                return final(db) == SITES

        wait_until(all_final, 240, "every item sent from the worker host", every=1)
        with sessions() as db:
            states = db.scalars(select(SendItem.state).where(SendItem.reservation_id == rid)).all()
            assert sorted(states) == ["sent"] * SITES
            assert db.get(Reservation, rid).sent == SITES  # type: ignore[union-attr]
            beats = db.scalars(select(FleetWorker.hostname)).all()
            assert WORKER_HOST in beats  # its own host name in the heartbeats
        received = [json.loads(line) for line in submissions.read_text().splitlines()]
        hosts_received = sorted(sub["host"].split(":")[0] for sub in received)
        assert hosts_received == sorted(
            httpx.URL(u).host for _, u in generated
        )  # each site once, nothing twice

        # The evidence went to the shared store; the coordinator serves it to the owner.
        with httpx.Client(base_url=base, timeout=30) as client:
            page = client.get(f"/api/v1/reservations/{rid}/items", headers=mine).json()
            links = [link for item in page["items"] for link in item["evidence_links"]]
            assert links
            shot = next(link for link in links if link.endswith((".jpg", ".jpeg", ".png")))
            served = client.get(shot, headers=mine)
            assert served.status_code == 200 and served.headers["content-type"].startswith("image/")
            listed = boto3.client("s3", endpoint_url=endpoint, **_aws_args(aws)).list_objects_v2(
                Bucket=BUCKET, Prefix=f"fleet/{rid}/"
            )
            assert any(o["Key"].endswith(shot.rsplit("/", 1)[1]) for o in listed["Contents"])
            assert not (hosts.tmp / "coordinator-var" / "evidence").exists()

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
        assert done["status"] == "done", done
        assert done["rows_total"] == len(rows)
        assert done["rows_duplicate"] >= SITES  # the reservation's prospects were there already
        taken_by = Job.fetch(f"import-{job_id}", connection=redis, serializer=JSONSerializer)
        assert (taken_by.worker_name or "").startswith(f"import-{WORKER_HOST}-")
        with sessions() as db:
            after = db.scalar(select(func.count()).select_from(Prospect))
        assert after == prospects_before + done["rows_imported"]
    finally:
        for proc in reversed(hosts.procs):
            _stop(proc)
        _kill_leftover_workers(sessions if "sessions" in locals() else None)
        s3.stop()
        engine.dispose()
        redis.flushdb()
        drop_pg_database(pg_name)


def _aws_args(aws: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": aws["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": aws["AWS_SECRET_ACCESS_KEY"],
        "region_name": aws["AWS_DEFAULT_REGION"],
    }


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _kill_leftover_workers(sessions: sessionmaker[Session] | None) -> None:
    """The worker supervisor's processes run in their own process groups: none may outlive the
    test (each is known by the pid in its heartbeat)."""
    if sessions is None:
        return
    with suppress(Exception), sessions() as db:
        for pid in db.scalars(select(FleetWorker.pid)).all():
            if pid and alive(pid):
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
