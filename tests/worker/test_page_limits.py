"""Pages that fight the browser, sent by one Sender with the network guard on (its test network):
each ends within its bound and the next ordinary send still goes through."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.server import FixtureServer
from shared.config import PROJECT_ROOT, Settings, unsafe_setting
from worker.driver import Driver
from worker.engine import Sender
from worker.netguard import NetGuard
from worker.page_limits import WATCHDOG_GRACE_S

QA_SCRIPT = PROJECT_ROOT / "fixtures" / "scripts" / "qa.json"
TEST_NETWORK = {
    "guard_test_public": "127.0.0.1",
    "guard_test_hosts": "*.localhost=127.0.0.1,intranet.hostile.test=127.0.0.3",
}


def test_the_test_network_counts_only_its_addresses_public() -> None:
    guard = NetGuard.from_settings(Settings(demo=True, **TEST_NETWORK))
    assert guard.check_host("cf7-basic.localhost").addresses == ("127.0.0.1",)
    assert guard.check_host("cf7-basic.localhost").allowed
    for host in ("127.0.0.2", "169.254.169.254", "10.0.0.1", "::1", "intranet.hostile.test"):
        verdict = guard.check_host(host)
        assert not verdict.allowed and verdict.reason == "blocked_address", host
    assert guard.check_host("intranet.hostile.test").addresses == ("127.0.0.3",)
    # Without the settings, the guard is the real one: *.localhost is loopback.
    assert not NetGuard.from_settings(Settings()).check_host("cf7-basic.localhost").allowed


def test_the_test_network_is_refused_outside_the_demo() -> None:
    assert unsafe_setting(Settings(**TEST_NETWORK)) is not None
    assert unsafe_setting(Settings(demo=True, **TEST_NETWORK)) is None


class _Bystander:
    """Another browser of the same process, in a thread of its own (as in `mikomi engine qa`,
    one per thread): the watchdog must kill the overrunning send's browser only."""

    def __init__(self, settings: Settings) -> None:
        self.pid: int | None = None
        self._ready, self._done = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, args=(settings,), daemon=True)
        self._thread.start()
        assert self._ready.wait(60) and self.pid is not None

    def _run(self, settings: Settings) -> None:
        with Driver(settings) as driver:
            self.pid = driver.browser_pid
            self._ready.set()
            self._done.wait()

    def alive(self) -> bool:
        assert self.pid is not None
        return Path(f"/proc/{self.pid}").exists()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=30)


@pytest.fixture(scope="module")
def sender() -> Iterator[tuple[Sender, FixtureServer, _Bystander]]:
    settings = Settings(allow_private=False, demo=True, send_timeout_s=6, **TEST_NETWORK)
    bystander = _Bystander(settings)
    try:
        with FixtureServer() as server, Sender(settings) as engine:
            yield engine, server, bystander
    finally:
        bystander.stop()


def _send(engine: Sender, server: FixtureServer, name: str) -> tuple[str, str | None, float]:
    site = next(s for s in [*server.hostile_sites, *server.sites] if s.name == name)
    script = json.loads(QA_SCRIPT.read_text(encoding="utf-8"))
    started = time.monotonic()
    result = engine.send(site.url, script, site.company, "http://127.0.0.1:8000/optout/t")
    return result.status, result.reason, time.monotonic() - started


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("name", "outcome", "bound_s"),
    [
        # spins after the load: only the watchdog ends it (deadline 6 s + grace)
        ("cpu-busy-loop", ("failed", "timeout"), 6 + WATCHDOG_GRACE_S + 3),
        # a dialog loop made a busy loop by the dialog budget: the load times out
        ("dialog-loop", ("failed", "timeout"), 6 + WATCHDOG_GRACE_S + 3),
        ("memory-bomb", ("failed", "site_unreachable"), 15),
        ("pushstate-flood", ("sent", None), 15),
        ("window-open-storm", ("sent", None), 15),
    ],
)
def test_a_hostile_page_ends_in_time_and_the_next_send_goes_through(
    sender: tuple[Sender, FixtureServer, _Bystander],
    name: str,
    outcome: tuple[str, str | None],
    bound_s: float,
) -> None:
    engine, server, bystander = sender
    status, reason, spent = _send(engine, server, name)
    assert (status, reason) == outcome and spent < bound_s, (status, reason, spent)
    assert _send(engine, server, "cf7-basic")[:2] == ("sent", None)
    assert bystander.alive()
