"""GET /r/<token> (docs/rules.md#click-counting): a 302 to the stored URL only, the first human
click per item counted once, HEAD, scanners and the first seconds after the send not."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from coordinator.clicks import repository, service
from shared import clock, migrate, tracking
from shared.db import make_engine
from shared.enums import ItemState
from shared.models import Reservation, SendItem, TrackedLink
from tests.builders import QA_SCRIPT, make_reservation

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SCANNERS = [
    "",
    "Mozilla/5.0 (compatible; Barracuda Sentinel)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/51.0.2704.79 Safari/537.36 Edge/14.14393 Proofpoint",
    "Mimecast URL Protect",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Microsoft Office Existence Discovery",
    "python-requests/2.32.3",
    "curl/8.5.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120",
]


def _sent_item_with_links(db: Session, urls: list[str]) -> tuple[SendItem, list[TrackedLink]]:
    reservation = make_reservation(db, items=1)
    item = db.scalars(select(SendItem).where(SendItem.reservation_id == reservation.id)).one()
    body = "\n".join(urls)
    tracking.message_script(
        db, item, {**QA_SCRIPT, "track_clicks": True, "body": body}, reply_domain="",
        public_base_url="http://testserver",
    )  # fmt: skip
    item.state = ItemState.SENT.value
    item.submitting_at = item.finished_at = clock.now() - timedelta(minutes=5)
    db.flush()
    links = list(db.scalars(select(TrackedLink).where(TrackedLink.item_id == item.id)))
    return item, links


def _clicks(db: Session, item: SendItem) -> int:
    reservation = db.get(Reservation, item.reservation_id)
    assert reservation is not None
    db.refresh(reservation)
    return reservation.clicks


@pytest.mark.parametrize("user_agent", SCANNERS)
def test_scanners_are_known(user_agent: str) -> None:
    assert service.is_link_scanner(user_agent)


def test_people_are_not_scanners() -> None:
    for ua in (
        BROWSER,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 Safari Line/14.9.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0",
    ):
        assert not service.is_link_scanner(ua), ua


def test_first_human_click_counts_once_per_item(client: TestClient, db: Session) -> None:
    item, links = _sent_item_with_links(db, ["https://example.co.jp/a", "https://example.co.jp/b"])
    first, second = links
    # HEAD and a scanner's GET redirect but do not count as a click.
    head = client.head(f"/r/{first.token}", follow_redirects=False)
    assert head.status_code == 302 and head.headers["location"] == first.url
    scan = client.get(
        f"/r/{first.token}", headers={"User-Agent": SCANNERS[1]}, follow_redirects=False
    )
    assert scan.status_code == 302 and scan.headers["location"] == first.url
    assert _clicks(db, item) == 0
    for link in (first, second, first):
        got = client.get(
            f"/r/{link.token}", headers={"User-Agent": BROWSER}, follow_redirects=False
        )
        assert got.status_code == 302 and got.headers["location"] == link.url
    assert _clicks(db, item) == 1
    db.refresh(item)
    db.refresh(first)
    db.refresh(second)
    assert item.first_click_at is not None
    assert (first.clicks, second.clicks) == (3, 1)  # every GET, the scanner's too
    assert first.first_click_at is not None and second.first_click_at is not None


def test_clicks_in_the_first_seconds_after_the_send_are_scanners(
    client: TestClient, db: Session
) -> None:
    item, (link,) = _sent_item_with_links(db, ["https://example.co.jp/a"])
    item.finished_at = clock.now() - service.SCANNER_WINDOW / 2
    db.flush()
    client.get(f"/r/{link.token}", headers={"User-Agent": BROWSER}, follow_redirects=False)
    assert _clicks(db, item) == 0
    clock.advance(service.SCANNER_WINDOW)
    client.get(f"/r/{link.token}", headers={"User-Agent": BROWSER}, follow_redirects=False)
    assert _clicks(db, item) == 1


def test_unknown_token_is_a_404_page_and_no_redirect(client: TestClient, db: Session) -> None:
    _sent_item_with_links(db, ["https://example.co.jp/a"])
    assert "このリンクは無効です" in client.get("/r/nope", headers={"User-Agent": BROWSER}).text
    for token in ("nope", "x" * 200, "https:%2F%2Fevil.example"):
        got = client.get(f"/r/{token}", headers={"User-Agent": BROWSER}, follow_redirects=False)
        assert got.status_code == 404
        assert "location" not in got.headers
    # The target is the stored URL: a query string cannot choose another.
    _item, (link,) = _sent_item_with_links(db, ["https://example.co.jp/b"])
    got = client.get(
        f"/r/{link.token}?url=https://evil.example/", headers={"User-Agent": BROWSER},
        follow_redirects=False,
    )  # fmt: skip
    assert got.headers["location"] == "https://example.co.jp/b"


def test_a_click_waits_for_sqlites_writer_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A click's GET writes (the counters): another writer's commit between its first read and
    its first write must not fail it ("database is locked" from a stale read snapshot)."""
    url = f"sqlite:///{tmp_path / 'clicks.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        with Session(bind=engine, expire_on_commit=False) as seed:
            item, (link,) = _sent_item_with_links(seed, ["https://example.co.jp/a"])
            seed.commit()
        read_link = repository.link_by_token
        other_writes: list[str] = []

        def read_then_let_another_writer_in(db: Session, token: str) -> TrackedLink | None:
            found = read_link(db, token)
            with engine.connect() as other:  # the dispatcher or a worker, say
                other.exec_driver_sql("PRAGMA busy_timeout=100")
                try:
                    other.execute(update(Reservation).values(clicks=Reservation.clicks + 100))
                    other.commit()
                    other_writes.append("committed")
                except OperationalError:
                    other_writes.append("waited")
            return found

        monkeypatch.setattr(repository, "link_by_token", read_then_let_another_writer_in)
        with Session(bind=engine) as db:
            assert service.follow(db, link.token, method="GET", user_agent=BROWSER) == link.url
            db.commit()
        assert other_writes == ["waited"]  # the click held the writer lock from its first read
        with Session(bind=engine) as db:
            assert db.scalar(select(Reservation.clicks).where(
                Reservation.id == item.reservation_id)) == 1  # fmt: skip
    finally:
        engine.dispose()
