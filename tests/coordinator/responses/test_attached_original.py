"""A person's reply that attaches the original mail (Outlook's reply or forward with the
message attached, ``message/rfc822``): the attached mail is not the sender's words, so a
配信停止 sentence in the member's own message inside it makes no refusal, and the stored text
is the reply's own (docs/rules.md#responses, RP2/RP4). Over real SMTP on both engines."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

from shared.db import transaction
from shared.suppression import is_suppressed
from tests.coordinator.responses import mails
from tests.coordinator.responses.replies import (
    SENT,
    Mailin,
    make_sent_items,
    responses_of,
    snapshot,
)

OWN = "ご提案ありがとうございます。前向きに検討いたします。来週お電話いたします。"
ORIGINAL = (
    "株式会社サンプル ご担当者様\n\n弊社サービスのご案内です。\n"
    "今後のご案内が不要な場合は、お手数ですが配信停止とご返信ください。"
)


def _reply_with_original_attached(to: str) -> bytes:
    original = EmailMessage()
    original["From"] = "info@site.example.jp"
    original["To"] = "soumu@site.example.jp"
    original["Subject"] = "お問い合わせフォームからの送信"
    original.set_content(ORIGINAL, charset="utf-8")
    reply = EmailMessage()
    reply["From"] = mails.FROM
    reply["To"] = to
    reply["Subject"] = "RE: お問い合わせフォームからの送信"
    reply["Message-ID"] = mails.message_id()
    reply["In-Reply-To"] = "<notice@site.example.jp>"
    reply.set_content(OWN, charset="utf-8")
    reply.add_attachment(original)  # message/rfc822, as Outlook attaches it
    return reply.as_bytes(policy=SMTP)


def test_an_attached_original_is_not_the_senders_words(mailin: Mailin) -> None:
    sent = make_sent_items([SENT])
    [address] = sent.items
    assert mailin.send(_reply_with_original_attached(address), [address]) == {}
    got = snapshot(sent.reservation_id)
    assert (got["replies"], got["refusals"]) == (1, 0)
    with transaction() as db:
        [row] = responses_of(db, sent.reservation_id)
        assert (row.kind, row.refusal) == ("reply", False)
        assert row.body_text == OWN
        assert not is_suppressed(db, sent.domains[address], None)
