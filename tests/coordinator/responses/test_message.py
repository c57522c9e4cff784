"""Mail read into text: each encoding Japanese mail arrives in, HTML reduced to its text, and
broken MIME read as far as it goes (coordinator/responses/message.py)."""

from __future__ import annotations

import pytest

from coordinator.responses.message import parse
from tests.coordinator.responses import mails

TO = "r-0123456789abcdef0123@reply.example.test"
SUBJECT = "Re: ご提案の件（株式会社テスト）①"
BODY = "山田様\nご連絡ありがとうございます。～来週お打ち合わせ可能です。\n田中"


@pytest.mark.parametrize(
    "build",
    [
        mails.iso2022jp,
        mails.shift_jis,
        lambda to, s, b: mails.shift_jis(to, s, b, label="x-sjis"),
        lambda to, s, b: mails.shift_jis(to, s, b, label="Windows-31J"),
        mails.utf8_qp,
    ],
    ids=["iso-2022-jp", "shift_jis", "x-sjis", "windows-31j", "utf-8-qp"],
)
def test_each_japanese_encoding_reads_back(build) -> None:  # type: ignore[no-untyped-def]
    subject = SUBJECT if build is not mails.iso2022jp else "Re: ご提案の件（株式会社テスト）"
    body = BODY if build is not mails.iso2022jp else BODY.replace("～", "")
    mail = parse(build(TO, subject, body))
    assert mail.subject == subject
    assert mail.text == body
    assert mail.sender == mails.FROM
    assert mail.headers["to"] == TO


def test_raw_8bit_shift_jis_header_is_decoded() -> None:
    mail = parse(mails.raw_8bit_sjis_header(TO, "お問い合わせありがとうございます", "本文です"))
    assert mail.subject == "お問い合わせありがとうございます"
    assert mail.text == "本文です"


def test_html_only_mail_is_reduced_to_its_visible_text() -> None:
    html = (
        "<html><head><title>t</title><style>p{color:red}</style>"
        "<script>alert('x')</script></head><body><p>お世話になっております。</p>"
        "<p>資料を&lt;拝見&gt;しました。<img src=x onerror=alert(1)></p>"
        "<a href='javascript:alert(2)'>リンク</a></body></html>"
    )
    mail = parse(mails.html_only(TO, "Re: ご案内", html))
    assert mail.text == "お世話になっております。\n\n資料を<拝見>しました。\nリンク"
    assert "script" not in mail.text and "alert" not in mail.text and "onerror" not in mail.text


def test_text_part_is_preferred_to_html() -> None:
    mail = parse(mails.multipart_alternative(TO, "件名", "テキスト版", "<p>HTML版</p>"))
    assert mail.text == "テキスト版"


def test_broken_mime_gives_what_can_be_read() -> None:
    mail = parse(mails.broken_mime(TO))
    assert mail.subject == "壊れた broken"
    assert "壊れたメールです" in mail.text
    assert mail.defects  # the parser's complaints are kept


def test_garbage_never_raises() -> None:
    for raw in (b"", b"\x00\xff\xfe", b"Subject: =?bogus?Q?=ZZ?=\r\n\r\n<b>x</b>", b"\r\n" * 10):
        mail = parse(raw)
        assert isinstance(mail.text, str) and isinstance(mail.subject, str)


def test_delivery_status_report_is_recognized() -> None:
    mail = parse(mails.bounce(TO, "someone@example.test"))
    assert mail.report_type == "delivery-status"
    assert mail.has_delivery_status
