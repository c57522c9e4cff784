"""The hostile-site corpus (fixtures/hostile/) through the real fleet, with the network guard on.

Real parts: ``python -m worker -n 2`` (the supervisor and two RQ worker processes, each with its
Chromium), the dispatcher's claim path in a thread, Redis, SQLite, the fixture server. The
guard runs through its test network (worker/netguard.py): the fixture server's 127.0.0.1 counts
as public, ``*.localhost`` resolves to it without DNS and ``intranet.hostile.test`` resolves to
127.0.0.3; every other loopback address stays private. Listeners on 127.0.0.2 and 127.0.0.3
(TCP on the fixture port, UDP 3478 for STUN/TURN) count what reaches them: nothing may.

Each hostile site sits between two ordinary generated sites in one reservation; a second
reservation of ordinary sites follows once every retry of the first is over. For each hostile
site: every attempt ends within the site's bound, the item ends with the outcome its
expected.json names, the worker that handled each attempt (or its replacement) goes on to send
an ordinary site correctly (the fixture server received the expected values), no prospect
receives anything twice, and the workers' log shows the guard's refusals.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from sqlalchemy import select

from fixtures.corpus import SiteInfo, load_hostile_sites, match_expected
from shared.models import SendAttempt, SendItem
from tests.builders import make_member, make_reservation
from tests.support.fleet import Fleet
from tests.support.processes import alive, wait_until, worker_pid_of

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

PRIVATE_LISTENERS = ("127.0.0.2", "127.0.0.3")
STUN_PORT = 3478
# A page that holds the renderer is cut off by the watchdog at the send deadline + 5 s: the
# deadline is set so that every attempt ends within the sites' 60 s bound.
SEND_TIMEOUT_S = 35
# Sent, failed and skipped items are final; failures before submitting come back for up to
# three attempts (30 s and 60 s apart), so the last hostile item ends a few minutes in.
FINISH_TIMEOUT_S = 360


class Listeners:
    """TCP and UDP sockets on private loopback addresses, counting every packet or connection."""

    def __init__(self, port: int) -> None:
        self.hits: list[tuple[str, str]] = []
        self._sockets: list[socket.socket] = []
        for address in PRIVATE_LISTENERS:
            tcp = socket.create_server((address, port))
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((address, STUN_PORT))
            for sock, kind in ((tcp, "tcp"), (udp, "udp")):
                self._sockets.append(sock)
                threading.Thread(
                    target=self._count, args=(sock, kind, address), daemon=True
                ).start()

    def _count(self, sock: socket.socket, kind: str, address: str) -> None:
        while True:
            try:
                if kind == "tcp":
                    conn, _ = sock.accept()
                    conn.close()
                else:
                    sock.recvfrom(2048)
            except OSError:
                return
            self.hits.append((kind, address))

    def close(self) -> None:
        for sock in self._sockets:
            with suppress(OSError):
                sock.close()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    made = Fleet(tmp_path, kind="sqlite", generated=len(load_hostile_sites()) + 8, lease_seconds=20)
    try:
        made.start(
            extra_env={
                "MIKOMI_ALLOW_PRIVATE": "0",  # the guard is on
                "MIKOMI_GUARD_TEST_PUBLIC": "127.0.0.1",
                "MIKOMI_GUARD_TEST_HOSTS": "*.localhost=127.0.0.1,intranet.hostile.test=127.0.0.3",
                "MIKOMI_SEND_TIMEOUT_S": str(SEND_TIMEOUT_S),
            }
        )
        yield made
    finally:
        made.stop()


def _host(url: str) -> str:
    return url.split("//", 1)[1].split("/", 1)[0].split(":")[0]


def test_hostile_sites_end_in_bounds_and_never_stop_the_fleet(fleet: Fleet) -> None:
    listeners = Listeners(fleet.server.port)
    try:
        _run(fleet, listeners)
    finally:
        listeners.close()


def _reserve(fleet: Fleet, sites: list[SiteInfo]) -> int:
    with fleet.session() as db:
        member = make_member(db, tickets=1000)
        return make_reservation(
            db,
            member=member,
            urls=[(s.company, s.url) for s in sites],
            count=len(sites),
            senders=2,
        ).id


def _finish(fleet: Fleet, rid: int) -> None:
    wait_until(
        lambda: fleet.observe(rid).status != "approved",
        FINISH_TIMEOUT_S,
        f"every item of reservation {rid} to end",
        every=1.0,
    )


def _run(fleet: Fleet, listeners: Listeners) -> None:
    hostile: list[SiteInfo] = fleet.server.hostile_sites
    assert len(hostile) >= 15
    normal = [s for s in fleet.server.sites if s.generated]
    # ordinary, hostile, ordinary, hostile, …, ordinary; then, once every retry is over, a
    # second reservation of ordinary sites for the workers that handled the last retries.
    order: list[SiteInfo] = []
    for i, site in enumerate(hostile):
        order += [normal[i], site]
    order += normal[len(hostile) : len(hostile) + 2]
    after = normal[len(hostile) + 2 :]
    assert len(after) >= 6
    by_host = {_host(s.url): s for s in [*order, *after]}
    first = _reserve(fleet, order)
    fleet.start_workers(2)
    fleet.wait_for_workers(2)
    first_pids = set(fleet.worker_pids())
    fleet.start_dispatcher()
    _finish(fleet, first)
    second = _reserve(fleet, after)
    _finish(fleet, second)
    with fleet.session() as db:
        rows = list(
            db.scalars(select(SendItem).where(SendItem.reservation_id.in_((first, second))))
        )
        attempts = list(
            db.scalars(select(SendAttempt).where(SendAttempt.reservation_id.in_((first, second))))
        )
    items = {_host(item.url): item for item in rows}
    tries: dict[int, list[SendAttempt]] = {}
    for attempt in attempts:
        tries.setdefault(attempt.item_id, []).append(attempt)
    submissions: dict[str, list[dict]] = {}
    for sub in fleet.server.submissions():
        submissions.setdefault(sub["host"].split(":")[0], []).append(sub)

    report: list[str] = []
    problems: list[str] = []
    for host, site in by_host.items():
        item = items[host]
        want = site.expected["outcome"]
        got = (item.state, item.reason)
        spent = [
            (a.finished_at - a.started_at).total_seconds()
            for a in tries.get(item.id, [])
            if a.finished_at is not None
        ]
        if site.name in {s.name for s in hostile}:
            report.append(f"{site.name}: {got[0]}/{got[1]} attempts {[round(s, 1) for s in spent]}")
            bound = float(site.expected.get("bound_s", 60))
            if got != (want["status"], want["reason"]):
                problems.append(f"{site.name}: ended {got}, expected {want}")
            if not spent or max(spent) > bound:
                problems.append(f"{site.name}: attempts took {spent} (bound {bound} s)")
        elif item.state != "sent":
            problems.append(f"ordinary site {site.name} ended {got}")
        received = submissions.get(host, [])
        if len(received) > 1:
            problems.append(f"{site.name} received {len(received)} submissions")
        if site.submission_expected and item.state == "sent":
            if len(received) != 1 or match_expected(site.expected, received[0]["fields"]):
                problems.append(f"{site.name}: wrong or missing submission {received}")
        elif item.state != "sent" and received:
            problems.append(f"{site.name}: received a submission but ended {got}")

    # The worker that handled each hostile item (or the one that replaced it) sent an ordinary
    # site afterwards.
    # (the dispatcher, a thread of this process, beats in the same table)
    live = {pid for pid in fleet.worker_pids() if pid != os.getpid()}
    ordinary_sends = [
        (worker_pid_of(items[_host(s.url)].worker_id), items[_host(s.url)].finished_at)
        for s in by_host.values()
        if s.generated and items[_host(s.url)].state == "sent"
    ]
    for site in hostile:
        for attempt in tries.get(items[_host(site.url)].id, []):
            pid = worker_pid_of(attempt.worker_id)
            later = [
                p
                for p, at in ordinary_sends
                if at and attempt.finished_at and at > attempt.finished_at
            ]
            if pid in later:
                continue
            replaced = (
                pid is not None and not alive(pid) and any(p not in first_pids for p in later)
            )
            if not replaced:
                problems.append(f"{site.name}: worker {pid} sent nothing ordinary afterwards")
    if len(live) != 2:
        problems.append(f"worker processes serving at the end: {sorted(live)}")

    assert listeners.hits == [], listeners.hits
    log = (fleet.tmp / "workers.log").read_text(errors="replace")
    refused = set(re.findall(r"guard refused (\S+):", log))
    for host in ("169.254.169.254", "127.0.0.2", "127.0.0.3", "10.0.0.1", "192.168.1.1",
                 "intranet.hostile.test"):  # fmt: skip
        if host not in refused:
            problems.append(f"the guard's log shows no refusal of {host}")
    print("\n".join(report))
    assert not problems, "\n".join(problems + report)
