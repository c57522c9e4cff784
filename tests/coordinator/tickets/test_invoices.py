"""Qualified invoices (適格請求書) and receipts (領収書) as PDF: every required item is in the
text a PDF reader extracts, in a CJK font embedded in the file."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from pypdf import PdfReader

from shared import clock
from shared.config import Settings, get_settings

ISSUER = "ミコミ株式会社"  # tests/conftest.py
REGISTRATION_NO = "T1234567890123"
BANK = "みこみ銀行 本店営業部 普通 1234567 ミコミ（カ"


def order(client, headers, method: str = "bank_transfer", quantity: int = 2000):  # type: ignore[no-untyped-def]
    body = {
        "quantity": quantity,
        "company_name": "請求先株式会社",
        "contact_name": "経理 一郎",
        "payment_method": method,
    }
    if method == "card":
        body["card_number"] = "4242 4242 4242 4242"
    resp = client.post("/api/v1/orders", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


def pdf_text(resp) -> str:  # type: ignore[no-untyped-def]
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(resp.content))
    assert len(reader.pages) == 1
    fonts = reader.pages[0]["/Resources"]["/Font"]
    for ref in fonts.values():
        font = ref.get_object()
        descriptor = font.get("/FontDescriptor")
        if descriptor is None:  # a Type0 font keeps it on its descendant
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
        descriptor = descriptor.get_object()
        assert "/FontFile2" in descriptor, font  # embedded, not left to the reader
        assert "Noto" in str(font["/BaseFont"])
    return reader.pages[0].extract_text()


def value_of(text: str, label: str) -> str:
    """The text drawn right after ``label`` (the PDF's next text run)."""
    lines = [line.strip() for line in text.splitlines()]
    return lines[lines.index(label) + 1]


def test_the_invoice_of_a_bank_transfer_carries_every_item(client, make_user) -> None:  # type: ignore[no-untyped-def]
    clock.set_clock(datetime(2026, 3, 1, 3, 0, tzinfo=UTC))
    _, h = make_user("member")
    o = order(client, h)
    clock.advance(timedelta(days=1))
    text = pdf_text(client.get(f"/api/v1/orders/{o['id']}/invoice.pdf", headers=h))
    for item in (
        "請求書（適格請求書）",
        "請求先株式会社 御中",
        "経理 一郎 様",
        ISSUER,
        f"登録番号: {REGISTRATION_NO}",
        f"請求書番号: MK-202603-{o['id']:06d}",
        "発行日: 2026年03月02日",
        "申込日: 2026年03月01日",
        "数量 × 単価: 2,000件 × 20円",
        "10%対象",
        "40,000円",
        "消費税額（10%）",
        "4,000円",
        "合計（税込）",
        "44,000円",
        "ご請求金額（税込） 44,000円",
        "振込先",
        BANK,
        "支払期限",
        "2026年03月11日",
        "銀行振込",
    ):
        assert item in text, (item, text)
    # Each amount stands beside its own label.
    assert value_of(text, "10%対象 小計（税抜）") == "40,000円"
    assert value_of(text, "消費税額（10%）") == "4,000円"
    assert value_of(text, "合計（税込）") == "44,000円"
    assert value_of(text, "支払期限") == "2026年03月11日"
    assert value_of(text, "振込先") == BANK


def test_a_card_order_has_an_invoice_without_bank_details_and_a_receipt(client, make_user) -> None:  # type: ignore[no-untyped-def]
    clock.set_clock(datetime(2026, 3, 1, 3, 0, tzinfo=UTC))
    _, h = make_user("member")
    _, op = make_user("operator")
    o = order(client, h, "card", 1000)
    invoice = pdf_text(client.get(f"/api/v1/orders/{o['id']}/invoice.pdf", headers=h))
    assert "振込先" not in invoice and "クレジットカード決済" in invoice
    assert "20,000円" in invoice and "2,000円" in invoice and "22,000円" in invoice
    for who in (h, op):
        receipt = pdf_text(client.get(f"/api/v1/orders/{o['id']}/receipt.pdf", headers=who))
        for item in (
            "領収書",
            f"領収書番号: MKR-202603-{o['id']:06d}",
            f"請求書番号: MK-202603-{o['id']:06d}",
            "領収金額（税込） 22,000円",
            "上記の金額を正に領収いたしました。",
            "入金日",
            "2026年03月01日",
            ISSUER,
            f"登録番号: {REGISTRATION_NO}",
            "クレジットカード決済",
        ):
            assert item in receipt, (item, receipt)
        assert value_of(receipt, "消費税額（10%）") == "2,000円"
        assert value_of(receipt, "入金日") == "2026年03月01日"


def test_a_receipt_needs_a_payment_and_other_members_see_nothing(client, make_user) -> None:  # type: ignore[no-untyped-def]
    _, h = make_user("member")
    _, other = make_user("member")
    _, op = make_user("operator")
    o = order(client, h)
    resp = client.get(f"/api/v1/orders/{o['id']}/receipt.pdf", headers=h)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "receipt_not_paid"
    for path in ("invoice.pdf", "receipt.pdf"):
        resp = client.get(f"/api/v1/orders/{o['id']}/{path}", headers=other)
        assert resp.status_code == 404
        assert client.get(f"/api/v1/orders/{o['id']}/{path}").status_code == 401
    assert client.post(f"/api/v1/orders/{o['id']}/confirm-payment", headers=op).status_code == 200
    assert "領収書" in pdf_text(client.get(f"/api/v1/orders/{o['id']}/receipt.pdf", headers=h))


def test_without_an_issuer_no_invoice_is_made(client, make_user, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _, h = make_user("member")
    o = order(client, h)
    monkeypatch.setenv("MIKOMI_BANK_ACCOUNT", "")
    get_settings.cache_clear()
    try:
        resp = client.get(f"/api/v1/orders/{o['id']}/invoice.pdf", headers=h)
        err = resp.json()["error"]
        assert resp.status_code == 409 and err["code"] == "invoice_not_configured"
        assert "MIKOMI_BANK_ACCOUNT" in err["message"]
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    "number",
    ["1234567890123", "T123456789012", "T12345678901234", "t1234567890123", "T123456789012X"],
)
def test_the_registration_number_is_t_and_13_digits(number: str) -> None:
    with pytest.raises(ValidationError):
        Settings(invoice_registration_no=number)
    assert Settings(invoice_registration_no=" T1234567890123 ").invoice_registration_no == (
        REGISTRATION_NO
    )


def test_the_member_list_has_the_document_buttons(client, make_user) -> None:  # type: ignore[no-untyped-def]
    me, h = make_user("member", email="docs-buttons@example.test")
    o = order(client, h, "card", 1000)
    client.post("/login", data={"email": me.email, "password": "password-123"})
    page = client.get("/orders").text
    assert f'href="/api/v1/orders/{o["id"]}/invoice.pdf"' in page
    assert f'href="/api/v1/orders/{o["id"]}/receipt.pdf"' in page
