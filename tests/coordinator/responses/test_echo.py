"""A form's automatic mail that repeats the submitted message — Contact Form 7's default mail
(2): the site's title and the typed subject as its subject, a plain From, no Auto-Submitted,
the message itself with our 配信停止 line, CF7's footer — is an auto-reply even when it comes
late (a greylisting server holds it beyond the arrival window); our own opt-out line is never
read as the prospect declining (docs/rules.md#responses, RP3/RP4). Over real SMTP on both
engines, and the verdicts as pure functions."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from coordinator.responses import classify, message
from shared.db import transaction
from shared.models import SendItem
from shared.suppression import is_suppressed
from tests.coordinator.responses import mails
from tests.coordinator.responses.replies import (
    SENT,
    Mailin,
    make_sent_items,
    responses_of,
    snapshot,
)

OUR_MESSAGE = (
    "株式会社サンプル\nご担当者様\n\n突然のご連絡失礼いたします。\n"
    "弊社サービスのご案内です。詳しくは https://example.jp/ をご覧ください。\n\n"
    "配信停止: http://127.0.0.1:8000/optout/{token}"
)
CF7_FOOTER = "-- \nこのメールは 株式会社テスト (https://site.example.jp) のお問い合わせフォームから送信されました"


def _cf7_mail2(to: str, optout_token: str) -> bytes:
    body = f"メッセージ本文:\n{OUR_MESSAGE.format(token=optout_token)}\n\n{CF7_FOOTER}"
    return mails.utf8_qp(
        to, '株式会社テスト "業務提携のご提案"', body, sender="info@site.example.jp"
    )


def test_a_late_cf7_echo_is_an_auto_reply_not_a_refusal(mailin: Mailin) -> None:
    sent = make_sent_items([SENT], sent_ago=timedelta(minutes=20))
    [address] = sent.items
    with transaction() as db:
        item = db.get(SendItem, sent.items[address])
        assert item is not None
        token = item.optout_token
    assert mailin.send(_cf7_mail2(address, token), [address], "info@site.example.jp") == {}
    got = snapshot(sent.reservation_id)
    assert (got["auto_replies"], got["replies"], got["refusals"]) == (1, 0, 0)
    with transaction() as db:
        [row] = responses_of(db, sent.reservation_id)
        assert (row.kind, row.refusal) == ("auto_reply", False)
        assert not is_suppressed(db, sent.domains[address], None)
    time.sleep(0.5)  # a reply would have been forwarded by now: an auto-reply is not
    assert not [m for rcpt, m in mailin.inbox.messages if rcpt == [sent.member_email]]


def _verdict(raw: bytes, marker: str) -> classify.Verdict:
    now = datetime.now(UTC)
    return classify.classify(
        message.parse(raw),
        envelope_sender="info@site.example.jp",
        received_at=now,
        submitted_at=now - timedelta(hours=1),
        echo_marker=marker,
    )


TO = "r-0123456789abcdef0123@reply.mikomi.test"


def test_cf7_footer_alone_says_auto_reply() -> None:
    # no opt-out line in the echo (a form whose message field cut the end): the footer says it
    body = f"メッセージ本文:\n突然のご連絡失礼いたします。\n\n{CF7_FOOTER}"
    raw = mails.utf8_qp(TO, '株式会社テスト "ご提案"', body, sender="info@site.example.jp")
    assert _verdict(raw, "tok123").kind == "auto_reply"


def test_a_reply_carrying_our_message_unquoted_is_no_refusal() -> None:
    # a Re: whose mailer pasted the original below without a quoting header nor ">"
    body = "ご連絡ありがとうございます。検討いたします。\n\n" + OUR_MESSAGE.format(token="tok123")
    raw = mails.iso2022jp(TO, "Re: 業務提携のご提案", body, **{"In-Reply-To": "<n@site>"})
    verdict = _verdict(raw, "tok123")
    assert (verdict.kind, verdict.refusal) == ("reply", False)


def test_a_person_quoting_auto_reply_words_is_a_person() -> None:
    # a new mail (no Re:, no In-Reply-To) that quotes the form's mail with 「>」
    body = (
        "ご連絡ありがとうございます。担当の田中です。\n\n"
        "> このメールは自動送信されています\n> 以下の内容で受け付けました\n"
    )
    raw = mails.iso2022jp(TO, "ご提案について", body)
    assert _verdict(raw, "tok123") == classify.Verdict("reply", False, "a person's reply")


def test_a_counted_re_subject_is_a_person() -> None:
    # Becky! and other Japanese mailers count the replies: "Re[2]:", "Re^2:"
    for subject in ("Re[2]: 【自動返信】お問い合わせありがとうございます", "Re^2: 受付のお知らせ"):
        raw = mails.iso2022jp(TO, subject, "担当の田中です。来週お伺いできます。")
        assert _verdict(raw, "tok123").kind == "reply", subject
