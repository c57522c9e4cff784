"""Mails as real mailers write them, byte for byte: the encodings Japanese mail comes in, form
auto-replies, bounces, hostile and broken ones (for the mailin tests)."""

from __future__ import annotations

import base64
import quopri
import uuid
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP

FROM = "tanaka@prospect.example.jp"


def _crlf(data: bytes) -> bytes:
    """SMTP's line ends (smtplib sends bytes as they are)."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def message_id() -> str:
    """A new Message-ID, as every real mail has its own."""
    return f"<{uuid.uuid4().hex}@prospect.example.jp>"


def _headers(subject_encoded: str, to: str, sender: str, extra: dict[str, str]) -> str:
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject_encoded}",
        "Date: Fri, 04 Dec 2026 02:00:00 +0000",
        f"Message-ID: {extra.pop('Message-ID', None) or message_id()}",
        "MIME-Version: 1.0",
    ]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return "\r\n".join(lines)


def iso2022jp(to: str, subject: str, body: str, *, sender: str = FROM, **extra: str) -> bytes:
    """What Japanese mailers (Thunderbird, Becky!, many form plugins) have sent for decades:
    7-bit ISO-2022-JP, the subject as a B-encoded word."""
    encoded = Header(subject, "iso-2022-jp").encode()
    head = _headers(encoded, to, sender, extra)
    head += '\r\nContent-Type: text/plain; charset="ISO-2022-JP"\r\nContent-Transfer-Encoding: 7bit'
    return head.encode("ascii") + b"\r\n\r\n" + body.replace("\n", "\r\n").encode("iso-2022-jp")


def shift_jis(
    to: str, subject: str, body: str, *, sender: str = FROM, label: str = "Shift_JIS", **extra: str
) -> bytes:
    """Shift_JIS, base64 body, the subject a B-encoded word in Shift_JIS (old Windows mailers,
    many PHP form mailers)."""
    encoded = "=?Shift_JIS?B?" + base64.b64encode(subject.encode("cp932")).decode() + "?="
    head = _headers(encoded, to, sender, extra)
    head += f'\r\nContent-Type: text/plain; charset="{label}"\r\nContent-Transfer-Encoding: base64'
    payload = base64.encodebytes(body.replace("\n", "\r\n").encode("cp932"))
    return head.encode("ascii") + b"\r\n\r\n" + payload.replace(b"\n", b"\r\n")


def utf8_qp(to: str, subject: str, body: str, *, sender: str = FROM, **extra: str) -> bytes:
    """UTF-8, quoted-printable body, the subject a Q-encoded word (Gmail, Outlook)."""
    encoded = Header(subject, "utf-8").encode()
    head = _headers(encoded, to, sender, extra)
    head += '\r\nContent-Type: text/plain; charset="UTF-8"\r\nContent-Transfer-Encoding: quoted-printable'
    return head.encode("ascii") + b"\r\n\r\n" + _crlf(quopri.encodestring(body.encode("utf-8")))


def raw_8bit_sjis_header(to: str, subject: str, body: str, *, sender: str = FROM) -> bytes:
    """A careless mailer: the Shift_JIS subject put in the header raw, 8-bit, no encoded word."""
    head = f"From: {sender}\r\nTo: {to}\r\nMessage-ID: {message_id()}\r\n".encode()
    head += b"Subject: " + subject.encode("cp932") + b"\r\n"
    head += b"Content-Type: text/plain; charset=Shift_JIS\r\n"
    return head + b"\r\n" + body.replace("\n", "\r\n").encode("cp932")


def html_only(to: str, subject: str, html: str, *, sender: str = FROM, **extra: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id()
    for k, v in extra.items():
        msg[k] = v
    msg.set_content(html, subtype="html", charset="utf-8")
    return msg.as_bytes(policy=SMTP)


def multipart_alternative(
    to: str, subject: str, text: str, html: str, *, sender: str = FROM
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(text, charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg.as_bytes(policy=SMTP)


def bounce(to: str, original_to: str) -> bytes:
    """A Postfix delivery-status report (RFC 3464) from MAILER-DAEMON."""
    boundary = "B0UNCE"
    return (
        f"From: MAILER-DAEMON@mx.prospect.example.jp (Mail Delivery System)\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is the mail system at host mx.prospect.example.jp.\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
        f"--{boundary}\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.prospect.example.jp\r\n\r\n"
        f"Final-Recipient: rfc822; {original_to}\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode("ascii")


def broken_mime(to: str) -> bytes:
    """A multipart that never closes, a part with a charset nobody knows, a base64 part that
    is not base64, and a header line without a colon."""
    return (
        f"From: {FROM}\r\nTo: {to}\r\nSubject: =?utf-8?B?5aOK44KM44Gf?= broken\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="never-closed"\r\n'
        "this line is not a header\r\n"
        "\r\n"
        "--never-closed\r\n"
        "Content-Type: text/plain; charset=x-unknown-charset\r\n\r\n"
        "壊れたメールです\r\n"
        "--never-closed\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        "!!!not base64 at all%%%\r\n"
    ).encode()
