"""The item's reply address and tracked links (docs/rules.md#reply-addresses,
docs/rules.md#click-counting), over both databases."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared import tracking
from shared.models import SendItem, TrackedLink
from tests.builders import QA_SCRIPT, make_reservation

BASE = "https://mikomi.example.jp"


def _item(db: Session) -> SendItem:
    reservation = make_reservation(db, items=1)
    return db.scalars(select(SendItem).where(SendItem.reservation_id == reservation.id)).one()


def _tracked(db: Session, item: SendItem, body: str) -> dict[str, object]:
    script = {**QA_SCRIPT, "track_clicks": True, "body": body}
    return tracking.message_script(db, item, script, reply_domain="", public_base_url=BASE)


def test_capture_replies_fills_the_reply_address_and_keeps_the_body(db: Session) -> None:
    item = _item(db)
    script = {**QA_SCRIPT, "capture_replies": True, "body": "署名: taro@example.co.jp"}
    sent = tracking.message_script(
        db, item, script, reply_domain="reply.example.jp", public_base_url=BASE
    )
    address = sent["sender"]["email"]
    assert re.fullmatch(r"r-[0-9a-f]{20}@reply\.example\.jp", address)
    assert item.reply_token and address == f"r-{item.reply_token}@reply.example.jp"
    assert sent["body"] == "署名: taro@example.co.jp"  # the member's own address stays
    assert script["sender"]["email"] == QA_SCRIPT["sender"]["email"]  # the script is not changed
    assert tracking.reply_token_of(address.upper(), "REPLY.example.jp") == item.reply_token
    assert tracking.reply_token_of(address, "other.example.jp") is None
    # A second attempt of the same item keeps its address.
    again = tracking.message_script(
        db, item, script, reply_domain="reply.example.jp", public_base_url=BASE
    )
    assert again["sender"]["email"] == address


def test_no_reply_address_without_the_domain_or_the_flag(db: Session) -> None:
    item = _item(db)
    off = tracking.message_script(
        db, item, {**QA_SCRIPT, "capture_replies": True}, reply_domain="", public_base_url=BASE
    )
    flag_off = tracking.message_script(
        db, item, dict(QA_SCRIPT), reply_domain="reply.example.jp", public_base_url=BASE
    )
    assert off["sender"]["email"] == flag_off["sender"]["email"] == QA_SCRIPT["sender"]["email"]
    assert item.reply_token is None


def test_track_clicks_rewrites_each_url_once_per_item(db: Session) -> None:
    item = _item(db)
    body = (
        "詳しくはhttps://example.co.jp/service/をご覧ください。\n"
        "資料: https://example.co.jp/doc.pdf?x=1&y=2.\n"
        "もう一度 https://example.co.jp/service/\n"
        f"配信停止: {BASE}/optout/abc\n"
        "{{optout_url}}"
    )
    sent = _tracked(db, item, body)
    links = {
        link.url: link.token
        for link in db.scalars(select(TrackedLink).where(TrackedLink.item_id == item.id))
    }
    assert set(links) == {"https://example.co.jp/service/", "https://example.co.jp/doc.pdf?x=1&y=2"}
    service = f"{BASE}/r/{links['https://example.co.jp/service/']}"
    assert sent["body"] == (
        f"詳しくは{service}をご覧ください。\n"
        f"資料: {BASE}/r/{links['https://example.co.jp/doc.pdf?x=1&y=2']}.\n"
        f"もう一度 {service}\n"
        f"配信停止: {BASE}/optout/abc\n"
        "{{optout_url}}"
    )
    # A retried attempt reuses the links.
    assert _tracked(db, item, body)["body"] == sent["body"]
    assert len(db.scalars(select(TrackedLink).where(TrackedLink.item_id == item.id)).all()) == 2
