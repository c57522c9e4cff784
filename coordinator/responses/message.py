"""One received mail read into plain text: the standard library's parser (``policy.default``),
with the fallbacks Japanese mail needs (ISO-2022-JP, Shift_JIS mislabelled or not labelled at
all, raw 8-bit headers) and HTML reduced to its text. Nothing of the mail's HTML survives: the
screens show ``text`` only (docs/rules.md#responses)."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.header import decode_header
from email.message import EmailMessage, Message
from email.utils import parseaddr
from html.parser import HTMLParser
from typing import Any

MAX_TEXT = 50_000  # characters of body text kept
MAX_HEADER = 2_000  # characters of one header value kept
# Tried in this order when a part's declared charset is missing, wrong or unknown.
_FALLBACK_CHARSETS = ("utf-8", "iso2022_jp_2", "cp932", "euc_jp")
# Labels Japanese mailers use that Python's codecs do not know, or know too narrowly:
# Shift_JIS mail carries the Windows extensions (①, ～, IBM kanji), so read it as cp932.
_CHARSET_ALIASES = {
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_2",
    "euc-jp": "euc_jp",
    "x-euc-jp": "euc_jp",
}


@dataclass(frozen=True)
class ParsedMail:
    subject: str
    sender: str  # the From address (lower case), "" when there is none
    message_id: str
    headers: dict[str, Any]  # name (lower case) → value, or a list when repeated
    text: str
    content_type: str
    report_type: str  # multipart/report's report-type, "" otherwise
    has_delivery_status: bool  # a message/delivery-status part
    defects: list[str] = field(default_factory=list)


def _charset(name: str | None) -> list[str]:
    declared = (name or "").strip().strip('"').lower()
    first = [_CHARSET_ALIASES.get(declared, declared)] if declared else []
    return first + [c for c in _FALLBACK_CHARSETS if c not in first]


def decode_bytes(data: bytes, declared: str | None) -> str:
    """``data`` as text: the declared charset when it decodes cleanly, else the first of the
    usual Japanese charsets that does, else UTF-8 with replacement characters."""
    if b"\x1b$" in data or b"\x1b(" in data:  # ISO-2022-JP escapes, whatever the label says
        try:
            return data.decode("iso2022_jp_2")
        except UnicodeDecodeError:
            pass
    for charset in _charset(declared):
        try:
            return data.decode(charset)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("utf-8", errors="replace")


def _header_text(value: object) -> str:
    """A raw header value (as the lenient parser keeps it) as text: RFC 2047 words decoded
    with the charset aliases above (a Shift_JIS word with ① in it), raw 8-bit Shift_JIS or
    UTF-8 and raw ISO-2022-JP decoded as :func:`decode_bytes` does."""
    text = str(value)
    try:
        pieces = decode_header(text)
    except (ValueError, LookupError, UnicodeError):
        pieces = [(text, None)]
    out: list[str] = []
    for piece, charset in pieces:
        if isinstance(piece, str):
            piece = piece.encode("utf-8", "surrogateescape")
        out.append(decode_bytes(piece, charset))
    return " ".join("".join(out).split())[:MAX_HEADER]


class _TextOfHtml(HTMLParser):
    """The visible text of an HTML body: no script, style or head; blocks on their own lines."""

    _SKIP = frozenset({"script", "style", "head", "title", "noscript", "template", "iframe"})
    _BLOCK = frozenset(
        {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr", "pre"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _TextOfHtml()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - a hostile document: keep what was read so far
        pass
    return tidy("".join(parser.parts))


def tidy(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()[:MAX_TEXT]


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        payload = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    return decode_bytes(payload, part.get_content_charset())


def _text_parts(msg: Message) -> Iterator[Message]:
    """The leaf parts that are the mail's own text: not attachments, and nothing inside an
    attached mail (``message/rfc822``: the original a reply attaches is not its sender's
    words, nor the original a bounce returns)."""
    for sub in msg.get_payload() if msg.is_multipart() else []:
        if not isinstance(sub, Message):
            continue
        if (sub.get_content_disposition() or "") == "attachment":
            continue
        if sub.get_content_type() == "message/rfc822":
            continue
        if sub.is_multipart():
            yield from _text_parts(sub)
        else:
            yield sub
    if not msg.is_multipart():
        yield msg


def _body(msg: Message) -> str:
    plain: list[str] = []
    html: list[str] = []
    for part in _text_parts(msg):
        kind = part.get_content_type()
        if kind == "text/plain":
            plain.append(_part_text(part))
        elif kind == "text/html":
            html.append(_part_text(part))
        elif kind in ("message/delivery-status", "text/rfc822-headers"):
            plain.append(_part_text(part))
    if plain:
        return tidy("\n\n".join(plain))
    return html_to_text("\n".join(html))


MAX_HEADERS = 200


def _headers(msg: Message) -> dict[str, Any]:
    """Name (lower case) → text, or a list of texts when repeated; from the raw values, so a
    raw 8-bit header is decoded here rather than replaced by the parser."""
    values: dict[str, list[str]] = {}
    for name, value in list(msg.raw_items())[:MAX_HEADERS]:
        try:
            text = _header_text(value)
        except Exception:  # noqa: BLE001 - a header nothing can read
            text = "(読めないヘッダー)"
        values.setdefault(name.lower()[:100], []).append(text)
    return {name: v[0] if len(v) == 1 else v for name, v in values.items()}


def parse(raw: bytes) -> ParsedMail:
    """Read ``raw`` (a whole RFC 5322 message). Never raises: broken MIME gives what could be
    read, and its defects are listed. The headers are read from the lenient parser's raw values
    (the modern policy decodes RFC 2047 words with Python's narrow shift_jis and loses ①)."""
    headers = _headers(email.message_from_bytes(raw, policy=email.policy.compat32))
    msg: EmailMessage | Message
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception:  # noqa: BLE001 - the modern policy gave up: the lenient one reads more
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    try:
        text = _body(msg)
    except Exception:  # noqa: BLE001 - broken MIME: the raw body as text, tags stripped
        text = html_to_text(decode_bytes(raw.partition(b"\r\n\r\n")[2] or raw, None))
    defects = [type(d).__name__ for part in msg.walk() for d in part.defects]

    def one(name: str) -> str:
        value = headers.get(name, "")
        return str(value[0] if isinstance(value, list) else value)

    report_type = msg.get_param("report-type") if msg.is_multipart() else None

    has_status = any(part.get_content_type() == "message/delivery-status" for part in msg.walk())
    return ParsedMail(
        subject=one("subject"),
        sender=parseaddr(one("from"))[1].lower(),
        message_id=one("message-id")[:500],
        headers=headers,
        text=text,
        content_type=msg.get_content_type(),
        report_type=report_type if isinstance(report_type, str) else "",
        has_delivery_status=has_status,
        defects=defects[:20],
    )
