"""The UI walk's stack (the fleet harness plus a coordinator subprocess serving the UI) and
what a test does in its browser: log in, check the page fits a phone, record sends.
The ``browser`` and ``stack`` fixtures are in tests/e2e/conftest.py."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from playwright.sync_api import Browser, BrowserContext, Page

from mikomi.supervisor import free_port
from shared.config import PROJECT_ROOT
from tests.support.fleet import Fleet
from tests.support.processes import wait_until
from tests.support.web import PASSWORD

MEMBER_EMAIL = "member@ui.test"
OPERATOR_EMAIL = "operator@ui.test"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Stack:
    """The fleet harness plus a coordinator subprocess serving the UI."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.fleet = Fleet(tmp, kind="sqlite", generated=1000)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.coordinator: subprocess.Popen[bytes] | None = None
        self.import_worker: subprocess.Popen[bytes] | None = None

    def start(self) -> Stack:
        self.fleet.start(extra_env={"MIKOMI_PUBLIC_BASE_URL": f"http://127.0.0.1:{self.port}"})
        log = (self.tmp / "coordinator.log").open("ab")
        self.coordinator = subprocess.Popen(
            [sys.executable, "-m", "mikomi.cli", "coordinator", "--port", str(self.port)],
            cwd=PROJECT_ROOT,
            env={**os.environ, **self.fleet.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # The uploads of the import page are imported by an import worker, as in production.
        self.import_worker = subprocess.Popen(
            [sys.executable, "-m", "mikomi.cli", "import-worker"],
            cwd=PROJECT_ROOT,
            env={**os.environ, **self.fleet.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self._healthy, 60, "the coordinator")
        self._users()
        return self

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _users(self) -> None:
        from coordinator.accounts import service as accounts
        from shared.enums import Role

        with self.fleet.session() as db:
            accounts.create_user(
                db,
                email=MEMBER_EMAIL,
                password=PASSWORD,
                role=Role.MEMBER,
                company="TEST株式会社",
                name="テスト 太郎",
            )
            accounts.create_user(
                db,
                email=OPERATOR_EMAIL,
                password=PASSWORD,
                role=Role.OPERATOR,
                name="送信担当 花子",
            )

    def prospect_csv(self) -> Path:
        from fixtures.corpus import PROSPECT_CSV_HEADER

        path = self.tmp / "prospects.csv"
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=PROSPECT_CSV_HEADER)
            writer.writeheader()
            writer.writerows(site.prospect_row() for site in self.fleet.server.sites)
        return path

    def stop(self) -> None:
        for proc in (self.coordinator, self.import_worker):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
        self.fleet.stop()


def assert_no_page_overflow(page: Page) -> None:
    # Tables scroll inside their own box; the page itself never scrolls sideways.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"{page.url} is {width}px wide on a phone"


def login_in_browser(browser: Browser, base: str, email: str) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=DESKTOP, base_url=base, accept_downloads=True)
    page = context.new_page()
    page.goto("/login")
    page.fill("#f-email", email)
    page.fill("#f-password", PASSWORD)
    page.click("button:has-text('ログイン')")
    page.wait_for_load_state()
    return context, page


def record_sends(fleet: Fleet, reservation_id: int, limit: int, status: str = "sent") -> int:
    """What a worker does, through the fleet's own functions: claim, start, submitting,
    outcome — each its own committed transaction, publishing the counters after commit."""
    from shared import items

    done = 0
    while done < limit:
        with fleet.session() as db:
            pairs = items.claim(db, reservation_id, 1, "ui-test")
        if not pairs:
            return done
        item_id, token = pairs[0]
        with fleet.session() as db:
            assert items.start(db, item_id, token, "ui-test") is not None
        with fleet.session() as db:
            assert items.enter_submitting(db, item_id, token)
        with fleet.session() as db:
            items.record_outcome(db, item_id, token, items.Outcome(status=status, submitted=True))
        done += 1
    return done
