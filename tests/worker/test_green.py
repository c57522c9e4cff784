"""Many sends on one browser (worker/green.py): slot threads hand their sends to a browser host,
which runs them at once as greenlets on one Playwright and one Chromium, each in a context of
its own behind a guard proxy of its own (the guard's test network is on here). The fixture
server is the judge of what was sent."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from fixtures.corpus import match_expected
from fixtures.server import FixtureServer
from shared.config import PROJECT_ROOT, Settings
from worker import jobs
from worker.engine import Sender, SendResult
from worker.green import BrowserHost, HostedSender, HostEnded, HostStuck
from worker.page_limits import WATCHDOG_GRACE_S, ContextWatchdog

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

QA_SCRIPT = json.loads((PROJECT_ROOT / "fixtures" / "scripts" / "qa.json").read_text("utf-8"))
SETTINGS = Settings(
    allow_private=False,
    demo=True,
    send_timeout_s=8,
    first_look=False,  # every send to the browser: its context proxy is the guard here
    guard_test_public="127.0.0.1",
    guard_test_hosts="*.localhost=127.0.0.1,intranet.hostile.test=127.0.0.3",
)
POSITIVE = ["cf7-basic", "cf7-confirm-step", "formrun-honeypot", "address-full", "dl-layout"]


@pytest.fixture(scope="module")
def server() -> Iterator[FixtureServer]:
    # Every answer 200 ms late: sends wait on the network, as they do on real sites.
    with FixtureServer(latency_ms=200) as running:
        yield running


@pytest.fixture
def host(server: FixtureServer) -> Iterator[BrowserHost]:
    server.clear()
    running = BrowserHost(lambda: Sender(SETTINGS)).start()
    try:
        yield running
    finally:
        running.close()


def _site(server: FixtureServer, name: str) -> Any:
    return next(s for s in [*server.sites, *server.hostile_sites] if s.name == name)


def _send_all(
    host: BrowserHost, server: FixtureServer, names: list[str], before_submit: Any = None
) -> dict[str, SendResult | BaseException]:
    results: dict[str, SendResult | BaseException] = {}

    def one(name: str) -> None:
        site = _site(server, name)
        try:
            results[name] = HostedSender(host).send(
                site.url,
                QA_SCRIPT,
                site.company,
                f"http://127.0.0.1:8000/optout/{name}",
                before_submit=before_submit,
            )
        except BaseException as exc:  # reported by the assertion below
            results[name] = exc

    threads = [threading.Thread(target=one, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def test_sends_run_at_once_on_one_browser_and_each_site_receives_its_values(
    host: BrowserHost, server: FixtureServer
) -> None:
    browser = host.engine.driver.browser_pid
    # Every send waits at its submit until all of them got there: it passes only if they are
    # all in flight at once, and while one waits for its slot thread the others go on.
    barrier = threading.Barrier(len(POSITIVE), timeout=90)
    callers: dict[int, str] = {}

    def before_submit() -> bool:
        callers[threading.get_ident()] = threading.current_thread().name
        barrier.wait()
        return True

    results = _send_all(host, server, POSITIVE, before_submit)
    assert {n: getattr(r, "status", r) for n, r in results.items()} == dict.fromkeys(
        POSITIVE, "sent"
    )
    # before_submit (a database transaction in the worker) ran on each sender's own thread.
    assert len(callers) == len(POSITIVE)
    assert host.engine.driver.browser_pid == browser  # one browser served them all
    for name in POSITIVE:
        received = server.submissions(name)
        assert len(received) == 1, name
        assert match_expected(_site(server, name).expected, received[-1]["fields"]) == [], name


def test_a_send_that_says_no_at_its_submit_is_not_submitted_while_the_others_are(
    host: BrowserHost, server: FixtureServer
) -> None:
    def before_submit() -> bool:
        return threading.current_thread().name != "refuser"

    site = _site(server, "cf7-basic")
    refused: list[SendResult] = []
    thread = threading.Thread(
        target=lambda: refused.append(
            HostedSender(host).send(
                site.url, QA_SCRIPT, site.company, "http://x/o", before_submit=before_submit
            )
        ),
        name="refuser",
    )
    thread.start()
    others = _send_all(host, server, ["dl-layout", "address-full"], before_submit)
    thread.join(120)
    assert refused and refused[0].status == "cancelled" and not refused[0].submitted
    assert server.submissions("cf7-basic") == []
    assert {n: getattr(r, "status", r) for n, r in others.items()} == {
        "dl-layout": "sent",
        "address-full": "sent",
    }


def test_a_spinning_page_loses_only_its_context_and_a_refused_address_is_its_sends_alone(
    host: BrowserHost, server: FixtureServer
) -> None:
    browser = host.engine.driver.browser_pid
    results = _send_all(host, server, ["cpu-busy-loop", "redirect-to-loopback", *POSITIVE[:3]])
    outcome = {n: (getattr(r, "status", r), getattr(r, "reason", None)) for n, r in results.items()}
    assert outcome == {
        # spins after its load: the watchdog closes its context past the deadline
        "cpu-busy-loop": ("failed", "timeout"),
        # the guard proxy of its context refused the redirect; the others' proxies did not
        "redirect-to-loopback": ("skipped", "blocked_address"),
        **{name: ("sent", None) for name in POSITIVE[:3]},
    }
    spun = results["cpu-busy-loop"]
    assert isinstance(spun, SendResult)
    assert spun.elapsed_ms < (SETTINGS.send_timeout_s + WATCHDOG_GRACE_S + 5) * 1000
    # The browser lived through it, and the next send on it goes through.
    assert host.engine.driver.browser_pid == browser
    server.clear()
    again = _send_all(host, server, ["cf7-basic"])
    assert getattr(again["cf7-basic"], "status", None) == "sent"
    assert len(server.submissions("cf7-basic")) == 1


def _ends_within(pid: int, seconds: float) -> bool:
    """``pid`` is gone or a zombie within ``seconds`` (a SIGKILL takes a moment to land)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def _driver_pids() -> set[int]:
    """This process's Playwright drivers (node ... run-driver)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and b"run-driver" in command:
            found.add(int(entry.name))
    return found


def test_sends_in_flight_when_the_host_loses_its_driver_fail_and_a_new_host_sends(
    server: FixtureServer,
) -> None:
    server.clear()
    before = _driver_pids()
    host = BrowserHost(lambda: Sender(SETTINGS)).start()
    try:
        (driver,) = _driver_pids() - before
        names = POSITIVE[:3]
        arrived = threading.Semaphore(0)
        release = threading.Event()

        def before_submit() -> bool:
            arrived.release()
            release.wait(60)
            return True

        outcome: dict[str, Any] = {}
        sender = threading.Thread(
            target=lambda: outcome.update(_send_all(host, server, names, before_submit))
        )
        sender.start()
        for _ in names:  # every send is at its submit, its page open in the browser
            assert arrived.acquire(timeout=90)
        os.kill(driver, signal.SIGKILL)  # the driver is ours: this process started it
        deadline = time.monotonic() + 30
        while host.alive and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not host.alive  # the host's thread ended with its connection
        release.set()
        sender.join(60)
        # Every send had an answer (none waits for ever), an error, and nothing was submitted.
        assert not sender.is_alive()
        assert {n: type(r) for n, r in outcome.items()} == dict.fromkeys(names, HostEnded)
        assert all(server.submissions(name) == [] for name in names)
        with pytest.raises(RuntimeError):
            HostedSender(host).send("http://x/", QA_SCRIPT, "x", "http://x/o")
    finally:
        host.close()
    # The worker starts a new host for the next send (worker/jobs.py), and it sends.
    again = BrowserHost(lambda: Sender(SETTINGS)).start()
    try:
        result = _send_all(again, server, ["cf7-basic"])
        assert getattr(result["cf7-basic"], "status", None) == "sent"
        assert len(server.submissions("cf7-basic")) == 1
    finally:
        again.close()


def test_a_send_that_never_ends_is_given_up_and_its_browser_killed_and_the_host_sends_again(
    host: BrowserHost, server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The context watchdog fails to end a spinning page (as if closing its context hung): the
    # slot thread stops waiting a while past the deadline and the worker kills the browser.
    monkeypatch.setattr(ContextWatchdog, "_fire", lambda self: None)
    monkeypatch.setattr(HostedSender, "STUCK_AFTER_S", 3.0)
    browser = host.engine.driver.browser_pid
    spinner = _site(server, "cpu-busy-loop")
    started = time.monotonic()
    with pytest.raises(HostStuck):
        HostedSender(host, on_stuck=partial(jobs._kill_browser, host)).send(
            spinner.url, QA_SCRIPT, spinner.company, "http://x/o", deadline_s=4
        )
    assert time.monotonic() - started < 4 + 3 + 5
    assert _ends_within(browser, 10)
    # The host lives on and starts a new browser for the next send.
    assert host.alive
    again = _send_all(host, server, ["cf7-basic"])
    assert getattr(again["cf7-basic"], "status", None) == "sent"
    assert host.engine.driver.browser_pid != browser
    assert len(server.submissions("cf7-basic")) == 1
