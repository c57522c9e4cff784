"""The classification table (docs/rules.md#responses): bounce, auto-reply or a person's reply,
and which replies decline further contact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from coordinator.responses.classify import classify, declines, own_words
from coordinator.responses.message import parse
from tests.coordinator.responses import mails

TO = "r-0123456789abcdef0123@reply.example.test"
SUBMITTED = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
LATER = SUBMITTED + timedelta(hours=3)
SOON = SUBMITTED + timedelta(seconds=20)

HUMAN = "山田様\n\nご連絡ありがとうございます。詳しくお話を伺いたく存じます。\n来週ご都合いかがでしょうか。\n\n田中"


def _kind(raw: bytes, *, at: datetime = LATER, envelope: str = mails.FROM) -> tuple[str, bool]:
    v = classify(parse(raw), envelope_sender=envelope, received_at=at, submitted_at=SUBMITTED)
    return v.kind.value, v.refusal


CASES = [
    # (id, mail, received at, envelope sender, expected kind, refusal)
    ("auto-submitted", mails.utf8_qp(TO, "ご連絡", "本文", **{"Auto-Submitted": "auto-replied"}), LATER, mails.FROM, "auto_reply", False),
    ("auto-submitted-no", mails.utf8_qp(TO, "ご連絡", HUMAN, **{"Auto-Submitted": "no"}), LATER, mails.FROM, "reply", False),
    ("x-autoreply", mails.utf8_qp(TO, "ご連絡", "本文", **{"X-Autoreply": "yes"}), LATER, mails.FROM, "auto_reply", False),
    ("x-autorespond", mails.utf8_qp(TO, "ご連絡", "本文", **{"X-Autorespond": "1"}), LATER, mails.FROM, "auto_reply", False),
    ("precedence-bulk", mails.utf8_qp(TO, "ご連絡", "本文", Precedence="bulk"), LATER, mails.FROM, "auto_reply", False),
    ("precedence-auto_reply", mails.utf8_qp(TO, "ご連絡", "本文", Precedence="auto_reply"), LATER, mails.FROM, "auto_reply", False),
    ("precedence-junk", mails.utf8_qp(TO, "ご連絡", "本文", Precedence="junk"), LATER, mails.FROM, "auto_reply", False),
    ("subject-自動返信", mails.iso2022jp(TO, "【自動返信】お問い合わせを受け付けました", "内容"), LATER, mails.FROM, "auto_reply", False),
    ("subject-受付", mails.shift_jis(TO, "お問い合わせ受付のお知らせ", "内容"), LATER, mails.FROM, "auto_reply", False),
    ("subject-ありがとう", mails.utf8_qp(TO, "お問い合わせありがとうございます", "内容"), LATER, mails.FROM, "auto_reply", False),
    ("subject-送信完了", mails.utf8_qp(TO, "送信完了のお知らせ", "内容"), LATER, mails.FROM, "auto_reply", False),
    ("body-cf7", mails.utf8_qp(TO, "株式会社サンプル", "このメールは自動送信されています。\n以下の内容で受け付けました。"), LATER, mails.FROM, "auto_reply", False),
    ("noreply-sender", mails.utf8_qp(TO, "株式会社サンプル", "内容", sender="no-reply@site.example.jp"), LATER, "no-reply@site.example.jp", "auto_reply", False),
    ("timing", mails.utf8_qp(TO, "株式会社サンプル", "内容"), SOON, mails.FROM, "auto_reply", False),
    ("timing-but-Re", mails.utf8_qp(TO, "Re: ご提案の件", HUMAN), SOON, mails.FROM, "reply", False),
    ("late-human", mails.utf8_qp(TO, "ご提案の件", HUMAN), LATER, mails.FROM, "reply", False),
    ("human-iso2022jp", mails.iso2022jp(TO, "Re: ご提案の件", HUMAN), LATER, mails.FROM, "reply", False),
    ("bounce-report", mails.bounce(TO, "info@prospect.example.jp"), SOON, "", "bounce", False),
    ("bounce-null-sender", mails.utf8_qp(TO, "Delivery failure", "could not deliver"), LATER, "<>", "bounce", False),
    ("auto-reply-null-sender", mails.utf8_qp(TO, "不在のお知らせ", "12月7日まで不在にしております。", **{"Auto-Submitted": "auto-replied"}), LATER, "<>", "auto_reply", False),
    ("auto-reply-null-return-path", mails.utf8_qp(TO, "Out of office", "I am away.", **{"Auto-Submitted": "auto-replied", "Return-Path": "<>"}), LATER, mails.FROM, "auto_reply", False),
    ("bounce-null-sender-auto-submitted", mails.utf8_qp(TO, "Mail delivery failed", "could not deliver", sender="Mailer-Daemon@mx.example.jp", **{"Auto-Submitted": "auto-replied"}), SOON, "", "bounce", False),
    ("bounce-mailer-daemon", mails.utf8_qp(TO, "failure notice", "x", sender="MAILER-DAEMON@mx.example.jp"), LATER, "x@mx.example.jp", "bounce", False),
    ("refusal-不要", mails.utf8_qp(TO, "Re: ご提案の件", "今後のご連絡は不要です。"), LATER, mails.FROM, "reply", True),
    ("refusal-営業お断り", mails.iso2022jp(TO, "Re: ご案内", "弊社は営業メールはお断りしております。"), LATER, mails.FROM, "reply", True),
    ("refusal-配信停止", mails.shift_jis(TO, "配信停止", "配信停止をお願いします。"), LATER, mails.FROM, "reply", True),
    ("refusal-送らないで", mails.utf8_qp(TO, "Re: ご案内", "二度と送らないでください。"), LATER, mails.FROM, "reply", True),
    ("refusal-english", mails.utf8_qp(TO, "Re: proposal", "Please remove me from your list. Not interested."), LATER, mails.FROM, "reply", True),
    ("auto-reply-is-no-refusal", mails.utf8_qp(TO, "【自動返信】", "営業目的のお問い合わせには返信いたしかねます。"), LATER, mails.FROM, "auto_reply", False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "at", "envelope", "kind", "refusal"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_classification_table(
    raw: bytes, at: datetime, envelope: str, kind: str, refusal: bool
) -> None:
    assert _kind(raw, at=at, envelope=envelope) == (kind, refusal)


def test_our_own_quoted_message_is_not_the_prospects_words() -> None:
    """A reply quotes our message, with its 配信停止 line: that is not the prospect refusing."""
    body = (
        "ありがとうございます。ぜひ一度お話を伺えればと存じます。\n\n"
        "> 株式会社ミコミの山田です。\n"
        "> 今後のご案内が不要な場合は配信停止をお知らせください。\n"
    )
    assert _kind(mails.utf8_qp(TO, "Re: ご提案", body)) == ("reply", False)
    outlook = (
        "前向きに検討します。\n\n-----Original Message-----\nFrom: 山田\n"
        "今後のご連絡が不要でしたら配信停止とご返信ください。\n"
    )
    assert own_words(outlook).strip() == "前向きに検討します。"
    assert _kind(mails.utf8_qp(TO, "Re: ご提案", outlook)) == ("reply", False)
    gmail = "結構です。今後のご連絡は不要です。\n\n2026年12月4日(金) 11:00 山田 <y@example.jp>:\n> 配信停止\n"
    assert _kind(mails.utf8_qp(TO, "Re: ご提案", gmail)) == ("reply", True)


@pytest.mark.parametrize(
    "text",
    [
        "今後のご連絡は不要です",
        "営業メールはお断りします",
        "配信停止希望",
        "送らないでください",
        "リストから削除してください",
    ],
)
def test_declining_words(text: str) -> None:
    assert declines(text)


@pytest.mark.parametrize(
    "text",
    [
        "ご連絡ありがとうございます。資料をお送りください。",
        "来週お打ち合わせ可能です",
        "ご提案内容を社内で検討いたします",
    ],
)
def test_welcoming_words_do_not_decline(text: str) -> None:
    assert declines(text) is None
