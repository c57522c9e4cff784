"""反響 end to end (issue 20): fleet → site → mail → mailin → counters → page.

Real parts only: ``mikomi mailin`` and ``mikomi fixtures serve --smtp`` (pointing at mailin)
and ``mikomi coordinator`` as subprocesses, real RQ workers with Chromium, the dispatcher, a
committed SQLite database, Redis, and an aiosmtpd inbox standing for the member's own mailbox
(forwarded replies). A reservation of fixture sites with ``capture_replies`` and
``track_clicks`` (and two scripts, A/B) is sent; the counts the member's page shows must equal
what the sites sent, as their expected.json and the fixture server's record of mails say.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from coordinator.clicks.service import SCANNER_WINDOW
from mikomi.supervisor import free_port
from shared import clock
from shared.config import PROJECT_ROOT, Settings
from shared.enums import Role
from shared.models import Reservation, Response, Script, SendItem
from shared.suppression import is_suppressed
from tests.builders import QA_SCRIPT, give_tickets, make_reservation
from tests.support.fleet import Fleet
from tests.support.mail import Inbox
from tests.support.processes import wait_until
from tests.support.web import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

REPLY_DOMAIN = "reply.mikomi.test"
LANDING = "https://example.co.jp/service/"
# Sites that mail after the submission (fixtures/README.md#mails-after-a-submission), and three
# that do not: one sent without a mail, one refused before any submit, one without a form.
SITES = (
    "cf7-basic",
    "cf7-redirect-thanks",
    "mwwpform-confirm",
    "formrun-honeypot",
    "mailform-pro",
    "snow-monkey-forms",
    "unconfirmed-response",
    "table-layout",
    "refusal-plain",
)
MEMBER_EMAIL = "member@responses.test"
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SCANNER_UA = "Mozilla/5.0 (compatible; Barracuda Sentinel)"


@dataclass
class Services:
    """The subprocesses of the test, each with its log file, stopped by pid at the end."""

    tmp: Path
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, name: str, *args: str) -> Path:
        log = self.tmp / f"{name}.log"
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "mikomi.cli", *args],
                cwd=PROJECT_ROOT,
                env={**os.environ, **self.env},
                stdout=log.open("ab"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        return log

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _fixture_port(log: Path) -> int | None:
    found = re.search(r"^port (\d+)$", log.read_text(encoding="utf-8", errors="replace"), re.M)
    return int(found.group(1)) if found else None


@pytest.fixture
def world(
    tmp_path: Path, smtp: tuple[Inbox, Settings]
) -> Iterator[tuple[Fleet, Services, dict[str, Any]]]:
    inbox, mailbox = smtp
    coordinator_port, mailin_port = free_port(), free_port()
    fleet = Fleet(tmp_path, kind="sqlite", generated=0)
    services: Services | None = None
    try:
        fleet.start(
            extra_env={
                "MIKOMI_PUBLIC_BASE_URL": f"http://127.0.0.1:{coordinator_port}",
                "MIKOMI_REPLY_DOMAIN": REPLY_DOMAIN,
                # The member's own mailbox, where mailin forwards people's replies.
                "MIKOMI_SMTP_HOST": str(mailbox.smtp_host),
                "MIKOMI_SMTP_PORT": str(mailbox.smtp_port),
                "MIKOMI_MAIL_FROM": "noreply@mikomi.test",
            }
        )
        services = Services(tmp_path, dict(fleet.env))
        services.start("mailin", "mailin", "--host", "127.0.0.1", "--port", str(mailin_port))
        wait_until(lambda: _listening(mailin_port), 60, "mikomi mailin")
        sites_log = services.start(
            "fixtures", "fixtures", "serve", "--smtp", f"127.0.0.1:{mailin_port}"
        )
        wait_until(lambda: _fixture_port(sites_log) is not None, 60, "the fixture server")
        control = f"http://127.0.0.1:{_fixture_port(sites_log)}"
        services.start("coordinator", "coordinator", "--port", str(coordinator_port))
        base = f"http://127.0.0.1:{coordinator_port}"
        wait_until(lambda: _healthy(base), 60, "the coordinator")
        fleet.start_workers(2)
        fleet.start_dispatcher()
        yield fleet, services, {"control": control, "base": base, "inbox": inbox}
    finally:
        if services is not None:
            services.stop()
        fleet.stop()


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _reserve(fleet: Fleet, sites: dict[str, dict[str, Any]]) -> tuple[int, int]:
    """A member (with a login), scripts A and B with capture_replies and track_clicks, and an
    approved reservation of SITES whose items alternate between the two scripts."""
    from coordinator.accounts import service as accounts

    content = {
        **QA_SCRIPT,
        "body": QA_SCRIPT["body"].replace(
            "\n\n今後", f"\n詳しくは {LANDING} をご覧ください。\n\n今後"
        ),
        "capture_replies": True,
        "track_clicks": True,
    }
    with fleet.session() as db:
        user = accounts.create_user(
            db, email=MEMBER_EMAIL, password=PASSWORD, role=Role.MEMBER,
            company="反響テスト株式会社", name="反響 太郎",
        )  # fmt: skip
        assert user.member_id is not None
        give_tickets(db, user.member_id, 1000)
        from shared.models import Member

        member = db.get(Member, user.member_id)
        reservation = make_reservation(
            db,
            member=member,
            urls=[(sites[name]["company"], sites[name]["url"]) for name in SITES],
            count=300,
            senders=3,
        )
        db.get(Script, reservation.script_id).content = content  # type: ignore[union-attr]
        b = Script(member_id=member.id, name="スクリプトB", content={
            **content, "subject": "B案: 業務効率化のご提案",
            "body": content["body"].replace("業務効率化のご提案で", "【B案】業務効率化のご提案で"),
        })  # fmt: skip
        db.add(b)
        db.flush()
        reservation.script_b_id = b.id
        items = db.scalars(
            select(SendItem).where(SendItem.reservation_id == reservation.id).order_by(SendItem.id)
        ).all()
        for i, item in enumerate(items):
            item.script_id = b.id if i % 2 else None
        return reservation.id, b.id


def _expected(sites: dict[str, dict[str, Any]], submitted: set[str]) -> dict[str, int]:
    """What the sites that received a submission mail back, from their expected.json:
    items with an auto-reply, with a person's reply (not a refusal), with a refusal."""
    counts = {"auto_replies": 0, "replies": 0, "refusals": 0}
    for name in submitted:
        mails = sites[name]["expected"].get("mails") or []
        counts["auto_replies"] += any(m["kind"] == "auto_reply" for m in mails)
        counts["replies"] += any(m["kind"] == "reply" and not m.get("refusal") for m in mails)
        counts["refusals"] += any(m["kind"] == "reply" and m.get("refusal") for m in mails)
    return counts


def _recorded(mails: list[dict[str, Any]]) -> dict[str, int]:
    """The same counts from the fixture server's record of the mails it sent."""
    accepted = [m for m in mails if m["accepted"]]
    return {
        "auto_replies": len({m["site"] for m in accepted if m["kind"] == "auto_reply"}),
        "replies": len({m["site"] for m in accepted if m["kind"] == "reply" and not m["refusal"]}),
        "refusals": len({m["site"] for m in accepted if m["kind"] == "reply" and m["refusal"]}),
    }


def _page_counts(page: str) -> dict[str, int]:
    """The A/B table of the member's detail page, both scripts added up."""
    table = re.search(r'<section class="card" id="ab-comparison">.*?</section>', page, re.S)
    assert table, "no A/B comparison on the detail page"
    totals: dict[str, int] = {}
    for col in ("sent", "auto_replies", "replies", "refusals", "clicks"):
        cells = re.findall(rf'data-col="{col}">([\d,]+)<', table.group(0))
        assert len(cells) == 2, (col, cells)
        totals[col] = sum(int(c.replace(",", "")) for c in cells)
    return totals


def test_auto_replies_replies_refusals_and_clicks_reach_the_page(
    world: tuple[Fleet, Services, dict[str, Any]],
) -> None:
    fleet, _services, where = world
    control, base, inbox = where["control"], where["base"], where["inbox"]
    sites = {s["name"]: s for s in httpx.get(f"{control}/__fixtures/sites", timeout=10).json()}
    reservation_id, script_b = _reserve(fleet, sites)

    def settled() -> bool:
        seen = fleet.observe(reservation_id)
        return seen.counters["queued"] == 0 and seen.counters["in_flight"] == 0

    wait_until(settled, 150, "every item to end")
    received = httpx.get(f"{control}/__fixtures/submissions", timeout=10).json()
    submitted = {sub["site"] for sub in received}
    assert {"cf7-basic", "mwwpform-confirm", "unconfirmed-response"} <= submitted
    assert "refusal-plain" not in submitted
    expected = _expected(sites, submitted)
    mail_count = sum(len(sites[name]["expected"].get("mails") or []) for name in submitted)

    def all_mailed() -> bool:
        return len(httpx.get(f"{control}/__fixtures/mails", timeout=10).json()) >= mail_count

    wait_until(all_mailed, 30, f"the sites' {mail_count} mails")
    mails = httpx.get(f"{control}/__fixtures/mails", timeout=10).json()
    assert len(mails) == mail_count and all(m["accepted"] for m in mails), mails
    assert _recorded(mails) == expected

    with fleet.session() as db:
        items = {
            item.url: item
            for item in db.scalars(
                select(SendItem).where(SendItem.reservation_id == reservation_id)
            )
        }
    by_site = {name: items[sites[name]["url"]] for name in SITES}
    # Each site's form got its item's own reply address; the mails went to that address.
    for sub in received:
        item = by_site[sub["site"]]
        address = f"r-{item.reply_token}@{REPLY_DOMAIN}"
        assert item.reply_token and address in sub["fields"].values(), sub
        assert {m["to"] for m in mails if m["site"] == sub["site"]} <= {address}
        # A/B: the item was sent with its own script.
        message = "\n".join(str(v) for v in sub["fields"].values())
        assert ("【B案】" in message) == (item.script_id == script_b), sub["site"]
        assert "/optout/" in message and LANDING not in message  # the URL became a redirect

    with fleet.session() as db:
        reservation = db.get(Reservation, reservation_id)
        assert reservation is not None

    def counted() -> bool:
        with fleet.session() as db:
            r = db.get(Reservation, reservation_id)
            assert r is not None
            got = {"auto_replies": r.auto_replies, "replies": r.replies, "refusals": r.refusals}
            stored = len(db.scalars(
                select(Response.id).where(Response.reservation_id == reservation_id)).all())  # fmt: skip
            return got == expected and stored == mail_count

    wait_until(counted, 30, f"mailin to count {expected}")
    with fleet.session() as db:
        # The in-doubt site's auto-reply resolved it as sent, by the system.
        doubtful = db.get(SendItem, by_site["unconfirmed-response"].id)
        assert doubtful is not None
        assert doubtful.state == "sent" and doubtful.resolved_by is None
        assert fleet.observe(reservation_id).counters["in_doubt"] == 0
        # The refusal put the site's domain on the suppression list.
        assert is_suppressed(db, by_site["mwwpform-confirm"].domain, None)

    # Clicks: the tracked link of the cf7-basic message.
    cf7 = next(sub for sub in received if sub["site"] == "cf7-basic")
    link = re.search(rf"{re.escape(base)}/r/[A-Za-z0-9_-]+", str(cf7["fields"]))
    assert link, cf7
    url = link.group(0)
    with httpx.Client(follow_redirects=False, timeout=10) as client:
        head = client.head(url, headers={"User-Agent": BROWSER_UA})
        scanned = client.get(url, headers={"User-Agent": SCANNER_UA})
        assert head.status_code == scanned.status_code == 302
        assert head.headers["location"] == scanned.headers["location"] == LANDING
        # A person clicks after the first seconds (mail gateways open links at once).
        sent_at = by_site["cf7-basic"].finished_at
        assert sent_at is not None
        ready = sent_at + SCANNER_WINDOW + timedelta(seconds=1)
        wait_until(lambda: clock.now() >= ready, 30, "the scanner window to pass", every=0.5)
        for _ in range(2):
            human = client.get(url, headers={"User-Agent": BROWSER_UA})
            assert human.status_code == 302 and human.headers["location"] == LANDING
        unknown = client.get(f"{base}/r/not-a-token", headers={"User-Agent": BROWSER_UA})
        assert unknown.status_code == 404 and "location" not in unknown.headers

    # The member's page and API say what the sites sent.
    with httpx.Client(base_url=base, timeout=20) as member:
        logged_in = member.post(
            "/login", data={"email": MEMBER_EMAIL, "password": PASSWORD}, follow_redirects=True
        )
        assert logged_in.status_code == 200
        page = member.get(f"/reservations/{reservation_id}").text
        token = member.post(
            "/api/v1/auth/token", json={"email": MEMBER_EMAIL, "password": PASSWORD}
        ).json()["access_token"]
        api = member.get(
            f"/api/v1/reservations/{reservation_id}",
            headers={"Authorization": f"Bearer {token}"},
        ).json()
    section = {
        name: int(n.replace(",", ""))
        for name, n in re.findall(r'<b data-response="(\w+)">([\d,]+)</b>', page)
    }
    assert section == {**expected, "clicks": 1}  # the 反響 section
    kinds = re.findall(r'<tr data-response-id="\d+" data-kind="(\w+)">', page)
    assert len(kinds) == mail_count and kinds.count("refusal") == expected["refusals"]
    on_page = _page_counts(page)  # the A/B comparison, both scripts added up
    assert {k: on_page[k] for k in expected} == expected
    assert (
        on_page["clicks"] == 1 and on_page["sent"] == fleet.observe(reservation_id).counters["sent"]
    )
    assert {k: api[k] for k in (*expected, "clicks")} == {**expected, "clicks": 1}

    # People's replies (refusals too) reached the member's own mailbox with the sender to answer.
    def forwarded() -> int:
        return sum(1 for _rcpts, msg in inbox.messages if msg["Reply-To"])

    people = expected["replies"] + expected["refusals"]
    wait_until(lambda: forwarded() >= people, 90, f"{people} replies forwarded")
