"""Qualified invoices (適格請求書) and receipts (領収書) of ticket orders, as PDF.

What an invoice carries (see docs/rules.md#payments): the issuer and its registration number
(``MIKOMI_INVOICE_ISSUER``, ``MIKOMI_INVOICE_REGISTRATION_NO``), the invoice number, the dates,
quantity × unit price, the subtotal of the 10% rate and its consumption tax (rounded once per
invoice), the total and, for a bank transfer, the account to pay into (``MIKOMI_BANK_ACCOUNT``)
and the due date. A receipt is issued for a paid order.

The Japanese text is set in Noto Sans CJK (the fonts-noto-cjk package): its outlines are
PostScript (CFF), which ReportLab does not embed, so the glyphs one document uses are cut out
of the collection and converted to TrueType outlines with fontTools first. The PDF embeds that
small subset (tens of KB), so it reads the same on any machine.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont, newTable
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont as PdfFont
from reportlab.pdfgen.canvas import Canvas

from coordinator.tickets import errors
from shared import labels
from shared.config import Settings, get_settings
from shared.enums import PaymentMethod
from shared.models import TicketOrder
from shared.rules import CONSUMPTION_TAX_PERCENT, PRICE_PER_SEND_JPY

# The Japanese face of the Noto CJK collections (index 0 of the .ttc is "Noto Sans CJK JP").
FONT_CANDIDATES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"),
)
FONT_INDEX = 0

ITEM_NAME = "お問合せフォーム送信代行 送信チケット"


@dataclass(frozen=True)
class Amounts:
    """数量 × 単価, the 10% subtotal, its tax and the total, in integer JPY."""

    quantity: int
    unit_price: int
    subtotal: int
    tax: int
    total: int


def amounts(order: TicketOrder) -> Amounts:
    subtotal = order.quantity * PRICE_PER_SEND_JPY
    tax = subtotal * CONSUMPTION_TAX_PERCENT // 100  # one rounding per invoice and rate
    return Amounts(order.quantity, PRICE_PER_SEND_JPY, subtotal, tax, subtotal + tax)


def invoice_number(order: TicketOrder) -> str:
    return f"MK-{order.applied_on:%Y%m}-{order.id:06d}"


def receipt_number(order: TicketOrder) -> str:
    return f"MKR-{order.applied_on:%Y%m}-{order.id:06d}"


def _yen(value: int) -> str:
    return f"{value:,}円"


def _ymd(value: date | None) -> str:
    return f"{value:%Y年%m月%d日}" if value else ""


def _issuer(settings: Settings, *, bank: bool) -> None:
    missing = [
        name
        for name, value in (
            ("MIKOMI_INVOICE_ISSUER", settings.invoice_issuer),
            ("MIKOMI_INVOICE_REGISTRATION_NO", settings.invoice_registration_no),
            ("MIKOMI_BANK_ACCOUNT", settings.bank_account if bank else "-"),
        )
        if not value.strip()
    ]
    if missing:
        raise errors.invoice_not_configured("・".join(missing))


def invoice_pdf(order: TicketOrder, issued_on: date) -> bytes:
    """The qualified invoice of an order."""
    settings = get_settings()
    bank = order.payment_method == PaymentMethod.BANK_TRANSFER.value
    _issuer(settings, bank=bank)
    a = amounts(order)
    doc = _Document.start(
        "請求書（適格請求書）",
        order,
        settings,
        [
            ("請求書番号", invoice_number(order)),
            ("発行日", _ymd(issued_on)),
            ("申込日", _ymd(order.applied_on)),
        ],
    )
    doc.lead("下記のとおりご請求申し上げます。", f"ご請求金額（税込） {_yen(a.total)}")
    doc.items(a)
    lines = [("決済方法", labels.label(labels.PAYMENT_METHOD, order.payment_method))]
    if bank:
        lines.append(("支払期限", _ymd(order.due_on)))
        lines += [("振込先", line) for line in bank_account_lines(settings)]
        lines.append(("", "振込手数料はお客様のご負担にてお願いいたします。"))
    elif order.paid_on:
        lines.append(("入金日", _ymd(order.paid_on)))
    doc.notes(lines)
    return doc.finish(f"請求書 {invoice_number(order)}")


def receipt_pdf(order: TicketOrder, issued_on: date) -> bytes:
    """The receipt (領収書) of a paid order."""
    settings = get_settings()
    _issuer(settings, bank=False)
    if order.paid_on is None or order.status not in ("active", "completed"):
        raise errors.receipt_not_paid()
    a = amounts(order)
    doc = _Document.start(
        "領収書",
        order,
        settings,
        [
            ("領収書番号", receipt_number(order)),
            ("発行日", _ymd(issued_on)),
            ("請求書番号", invoice_number(order)),
        ],
    )
    doc.lead(
        "上記の金額を正に領収いたしました。",
        f"領収金額（税込） {_yen(a.total)}",
        sentence_first=False,
    )
    doc.items(a)
    doc.notes(
        [
            ("但し", f"{ITEM_NAME}代として"),
            ("入金日", _ymd(order.paid_on)),
            ("決済方法", labels.label(labels.PAYMENT_METHOD, order.payment_method)),
        ]
    )
    return doc.finish(f"領収書 {receipt_number(order)}")


def bank_account_lines(settings: Settings | None = None) -> list[str]:
    """振込先 (``MIKOMI_BANK_ACCOUNT``, lines separated by a newline or ``\\n``), as the invoice
    and the order page show it."""
    return _split((settings or get_settings()).bank_account)


def _split(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\\n", "\n").splitlines() if line.strip()]


# --- layout ------------------------------------------------------------------------------------

LEFT = 20 * mm
RIGHT = A4[0] - 20 * mm


class _Document:
    """One A4 page drawn as a list of (font size, x, y, text, align) runs, so that the font
    subset can be cut once all the text is known."""

    def __init__(self) -> None:
        self.runs: list[tuple[float, float, float, str, str]] = []
        self.rules: list[tuple[float, float, float]] = []  # (x1, x2, y) lines
        self.y = A4[1] - 25 * mm

    @classmethod
    def start(
        cls, title: str, order: TicketOrder, settings: Settings, refs: list[tuple[str, str]]
    ) -> _Document:
        """A page with its title, the addressee, the document's numbers and dates, the issuer."""
        doc = cls()
        doc.title(title)
        doc.header(order, settings, refs)
        return doc

    def text(self, size: float, x: float, y: float, text: str, align: str = "left") -> None:
        self.runs.append((size, x, y, text, align))

    def title(self, text: str) -> None:
        self.text(20, A4[0] / 2, self.y, text, "center")
        self.y -= 16 * mm

    def header(self, order: TicketOrder, settings: Settings, refs: list[tuple[str, str]]) -> None:
        top = self.y
        self.text(14, LEFT, self.y, f"{order.company_name} 御中")
        self.rules.append((LEFT, LEFT + 85 * mm, self.y - 2 * mm))
        self.y -= 8 * mm
        self.text(10, LEFT, self.y, f"ご担当: {order.contact_name} 様")
        self.y -= 6 * mm
        self.text(10, LEFT, self.y, f"申込No. {order.id}")
        y = top
        for label, value in refs:
            self.text(10, RIGHT, y, f"{label}: {value}", "right")
            y -= 6 * mm
        y -= 4 * mm
        self.text(12, RIGHT, y, settings.invoice_issuer, "right")
        y -= 6 * mm
        self.text(10, RIGHT, y, f"登録番号: {settings.invoice_registration_no}", "right")
        self.y = min(self.y, y) - 14 * mm

    def lead(self, sentence: str, total: str, *, sentence_first: bool = True) -> None:
        if sentence_first:
            self.text(10, LEFT, self.y, sentence)
            self.y -= 10 * mm
        self.text(16, LEFT, self.y, total)
        self.rules.append((LEFT, LEFT + 100 * mm, self.y - 2.5 * mm))
        self.y -= 10 * mm
        if not sentence_first:
            self.text(10, LEFT, self.y, sentence)
            self.y -= 8 * mm
        self.y -= 4 * mm

    def items(self, a: Amounts) -> None:
        cols = (LEFT, 120 * mm, 150 * mm, RIGHT)
        self.rules.append((LEFT, RIGHT, self.y + 5 * mm))
        for x, head, align in (
            (cols[0], "品目", "left"),
            (cols[1], "数量", "right"),
            (cols[2], "単価", "right"),
            (cols[3], "金額（税抜）", "right"),
        ):
            self.text(10, x if align == "left" else x, self.y, head, align)
        self.rules.append((LEFT, RIGHT, self.y - 2.5 * mm))
        self.y -= 8 * mm
        self.text(10, cols[0], self.y, f"{ITEM_NAME}（10%対象）")
        self.text(10, cols[1], self.y, f"{a.quantity:,}件", "right")
        self.text(10, cols[2], self.y, _yen(a.unit_price), "right")
        self.text(10, cols[3], self.y, _yen(a.subtotal), "right")
        self.y -= 4 * mm
        self.text(8, cols[0], self.y, f"数量 × 単価: {a.quantity:,}件 × {_yen(a.unit_price)}")
        self.rules.append((LEFT, RIGHT, self.y - 3 * mm))
        self.y -= 10 * mm
        for label, value, size in (
            ("10%対象 小計（税抜）", _yen(a.subtotal), 10),
            (f"消費税額（{CONSUMPTION_TAX_PERCENT}%）", _yen(a.tax), 10),
            ("合計（税込）", _yen(a.total), 12),
        ):
            self.text(size, 150 * mm, self.y, label, "right")
            self.text(size, RIGHT, self.y, value, "right")
            self.y -= 7 * mm
        self.y -= 6 * mm

    def notes(self, lines: Iterable[tuple[str, str]]) -> None:
        for label, value in lines:
            if label:
                self.text(10, LEFT, self.y, label)
            self.text(10, LEFT + 28 * mm, self.y, value)
            self.y -= 6 * mm

    def finish(self, title: str) -> bytes:
        font = _font_for("".join(run[3] for run in self.runs) + title)
        out = io.BytesIO()
        canvas = Canvas(out, pagesize=A4, pageCompression=1, initialFontName=font)
        canvas.setTitle(title)
        canvas.setAuthor(get_settings().invoice_issuer)
        canvas.setLineWidth(0.6)
        for x1, x2, y in self.rules:
            canvas.line(x1, y, x2, y)
        for size, x, y, text, align in self.runs:
            canvas.setFont(font, size)
            draw = {
                "left": canvas.drawString,
                "right": canvas.drawRightString,
                "center": canvas.drawCentredString,
            }[align]
            draw(x, y, text)
        canvas.showPage()
        canvas.save()
        return out.getvalue()


# --- the font ----------------------------------------------------------------------------------


def font_path() -> Path:
    for path in FONT_CANDIDATES:
        if path.exists():
            return path
    raise FileNotFoundError(
        "Noto Sans CJK not found (install the fonts-noto-cjk package): "
        + ", ".join(str(p) for p in FONT_CANDIDATES)
    )


def _font_for(text: str) -> str:
    """Register (once per set of characters) a TrueType subset holding ``text``; its name."""
    chars = "".join(sorted(set(text + "0123456789,円件年月日")))
    return _registered(chars)


@lru_cache(maxsize=64)
def _registered(chars: str) -> str:
    # ReportLab keeps one face per PostScript name: each subset needs a name of its own.
    name = f"NotoSansCJKjp-{hashlib.sha1(chars.encode()).hexdigest()[:12]}"
    pdfmetrics.registerFont(PdfFont(name, io.BytesIO(truetype_subset(chars, name))))
    return name


def truetype_subset(chars: str, name: str = "NotoSansCJKjp-Regular") -> bytes:
    """The glyphs of ``chars`` from Noto Sans CJK JP, as a small TrueType font called
    ``name``."""
    font = TTFont(font_path(), fontNumber=FONT_INDEX, lazy=True)
    options = subset.Options()
    options.desubroutinize = True
    options.layout_features = []
    options.hinting = False
    options.notdef_outline = True
    options.name_IDs = ["*"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    _cff_to_glyf(font)
    for record in font["name"].names:
        if record.nameID in (1, 3, 4, 6):
            record.string = name
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def _cff_to_glyf(font: TTFont) -> None:
    """Replace the font's PostScript (CFF) outlines by quadratic TrueType ones."""
    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
        glyf[name] = pen.glyph()
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    for tag in ("CFF ", "VORG"):
        if tag in font:
            del font[tag]
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000
    for attr in (
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
    ):
        setattr(maxp, attr, 0)
    maxp.maxZones = 1
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = order
    font["head"].glyphDataFormat = 0
    font.sfntVersion = "\x00\x01\x00\x00"
