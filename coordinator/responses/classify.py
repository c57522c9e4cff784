"""What a received mail is (docs/rules.md#responses): a ``bounce`` (a delivery-status report),
an ``auto_reply`` (自動返信: the form's own mail, proof that the inquiry arrived) or a human
``reply``; and whether a human reply declines further contact (a refusal, お断り).

Pure functions over :class:`coordinator.responses.message.ParsedMail`, so the table of cases
is tested without a server."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from coordinator.responses.message import ParsedMail
from formfill import detect_refusal
from shared.enums import ResponseKind as Kind

# A form's automatic mail arrives seconds after the submission; a person rarely answers within
# this window, and when one does the mail is a reply (Re:, In-Reply-To) or says so otherwise.
AUTO_REPLY_WINDOW = timedelta(minutes=3)

_BOUNCE_SENDERS = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon)@", re.I)
_BOUNCE_SUBJECTS = re.compile(
    r"undeliver|delivery status notification|returned mail|mail delivery fail|delivery failure"
    r"|failure notice|配信不能|配送不能|配信エラー|送信エラー|宛先不明|エラーメール",
    re.I,
)
_AUTO_PRECEDENCE = {"bulk", "auto_reply", "junk", "list"}
# Words of the forms' own mail (CF7 mail (2), MW WP Form, formrun, Mailform Pro …).
_AUTO_SUBJECTS = re.compile(
    r"自動返信|自動送信|自動配信|受付|受け付け|お問い?合わ?せ(?:いただき)?(?:誠に)?ありがと|送信完了|送信ありがと"
    r"|auto(?:matic)?[- ]?(?:reply|response)|out of (?:the )?office|thank you for (?:your )?(?:contact|inquiry|enquiry|message)",
    re.I,
)
_AUTO_BODIES = re.compile(
    r"(?:この|本)メールは.{0,20}自動(?:返信|送信|配信|的に)|自動(?:返信|送信|配信)(?:メール|にて|で)"
    r"|送信専用(?:の)?(?:メール)?アドレス|(?:以下|下記)の内容で(?:お問い合わせを)?(?:受け?付け|送信|承り)"
    # Contact Form 7's own footer (its Japanese and English defaults), under a plain From.
    r"|(?:この|本)メールは.{0,120}(?:フォーム|form)から送信されました"
    r"|this e-?mail was sent from a contact form"
    r"|this (?:is an )?auto(?:matic|mated)(?:ally generated)? (?:reply|response|message)",
    re.I,
)
_NOREPLY_SENDERS = re.compile(
    r"^(?:no-?reply|do-?not-?reply|donotreply|noreply|auto-?reply|wordpress|mailer|system)[.+-]?[^@]*@",
    re.I,
)
# A person's answer or forward: "Re:", Becky!'s and others' counted "Re[2]:", "Re^2:", "Re(2):".
_REPLY_SUBJECT = re.compile(
    r"^\s*(?:re|ｒｅ|返信|aw|sv|fwd?|転送)(?:\[\d+\]|\^\d+|\(\d+\))?\s*[:：]", re.I
)

# A person declining further contact, in the ways Japanese (and English) mail says it. A notice
# against sales in the page's sense (formfill's reading: 「営業メールはお断り」) counts too.
_JA_STOP = re.compile(
    r"(?:今後|以後|これ以降|二度と)(?:の|は|とも)?.{0,12}(?:ご?連絡|ご?案内|メール|送信|ご?提案|営業)"
    r".{0,12}(?:不要|結構|ご遠慮|お断り|控え|おやめ|止め|やめ|送らない|しないで|いりません|要りません)"
    r"|(?:配信|送信|メール)(?:の)?(?:停止|中止|解除)(?:を|して|して)?(?:お願い|ください|下さい|希望|依頼)?"
    r"|送らないで(?:ください|下さい|いただ)|送信しないで(?:ください|下さい)|連絡(?:は)?(?:不要|しないで)"
    r"|営業(?:メール|の(?:ご)?連絡|目的の(?:ご)?連絡)(?:は|を)?(?:一切)?(?:お断り|ご遠慮|不要|受け付けて)"
    r"|リストから(?:削除|外して)"
)
_EN_STOP = re.compile(
    r"\b(?:unsubscribe|remove (?:me|us|our (?:address|company))|stop (?:e-?mailing|contacting|sending)"
    r"|do not (?:contact|e-?mail|send)|don't (?:contact|e-?mail|send)|not interested)\b",
    re.I,
)
# Where a reply starts quoting what it answers: our own message (with its opt-out line) must not
# be read as the prospect's words.
_QUOTE_START = re.compile(
    r"^(?:-{2,}\s*(?:original message|元のメッセージ|転送)|_{5,}|.{0,80}(?:wrote|のメッセージ|書きました)[:：]\s*$"
    r"|(?:from|差出人|送信者)[:：].*$)",
    re.I,
)


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    refusal: bool
    why: str  # the signal that decided, for the log and the evidence


def _quoted(line: str) -> bool:
    return line.strip().startswith((">", "＞", "|"))


def unquoted(text: str) -> str:
    """``text`` without its quoted lines (``>``): what the mail itself says."""
    return "\n".join(line for line in text.splitlines() if not _quoted(line))


def own_words(text: str, echo_marker: str = "") -> str:
    """The part of a reply its sender wrote: quoted lines (``>``), everything after the
    quoting header of a mailer (「-----Original Message-----」, "On … wrote:") and the lines
    that carry ``echo_marker`` (our own message's opt-out link) left out."""
    kept: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if _quoted(line) or (echo_marker and echo_marker in line):
            continue
        if _QUOTE_START.match(stripped):
            break
        kept.append(line)
    return "\n".join(kept)


def _header(mail: ParsedMail, name: str) -> str:
    value = mail.headers.get(name, "")
    return (value[0] if isinstance(value, list) and value else str(value)).strip().lower()


def _bounce(mail: ParsedMail, envelope_sender: str) -> str | None:
    if mail.report_type.lower() == "delivery-status" or mail.has_delivery_status:
        return "delivery-status report"
    if _BOUNCE_SENDERS.match(mail.sender):
        return f"sender {mail.sender}"
    if _BOUNCE_SUBJECTS.search(mail.subject) and mail.content_type.startswith("multipart/report"):
        return "report subject"
    if envelope_sender in ("", "<>") or _header(mail, "return-path") == "<>":
        # An auto-responder that follows RFC 3834 sends from the null sender too, and says so
        # in its headers: that is an auto-reply, not a report of a failed delivery.
        if _auto_header(mail):
            return None
        return "null sender (Return-Path <>)"
    return None


def _auto_header(mail: ParsedMail) -> str | None:
    """The headers by which a mail says it was written by a program (RFC 3834 and the older
    X-Autoreply and Precedence conventions)."""
    auto_submitted = _header(mail, "auto-submitted")
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    for name in ("x-autoreply", "x-autorespond"):
        if name in mail.headers:
            return name
    if _header(mail, "precedence") in _AUTO_PRECEDENCE:
        return f"Precedence: {_header(mail, 'precedence')}"
    return None


def _auto(
    mail: ParsedMail, received_at: datetime, submitted_at: datetime | None, echo_marker: str
) -> str | None:
    said = _auto_header(mail)
    if said:
        return said
    if _REPLY_SUBJECT.match(mail.subject) or "in-reply-to" in mail.headers:
        return None  # a person answered (a mail, not a form's notice)
    own_text = unquoted(mail.text)
    if echo_marker and echo_marker in own_text:
        # Our whole message, unquoted, in a mail that is no reply: the form's copy of what was
        # submitted (CF7's default mail (2) echoes it under the site's title and a plain From).
        return "echoes the submitted message"
    subject = unicodedata.normalize("NFKC", mail.subject)
    if _AUTO_SUBJECTS.search(subject):
        return "subject"
    if _AUTO_BODIES.search(unicodedata.normalize("NFKC", own_text[:5000])):
        return "body"
    if _NOREPLY_SENDERS.match(mail.sender):
        return f"sender {mail.sender}"
    if submitted_at is not None and received_at - submitted_at <= AUTO_REPLY_WINDOW:
        return "arrived within minutes of the submission"
    return None


def declines(text: str) -> str | None:
    """The words of ``text`` (a person's own words) that decline further contact, or None."""
    normalized = unicodedata.normalize("NFKC", text)
    compact = re.sub(r"\s+", "", normalized)
    found = _JA_STOP.search(compact) or _EN_STOP.search(normalized)
    if found:
        return found.group()
    return detect_refusal(normalized)


def classify(
    mail: ParsedMail,
    *,
    envelope_sender: str,
    received_at: datetime,
    submitted_at: datetime | None,
    echo_marker: str = "",
) -> Verdict:
    """Bounce first (a report is never a reply), then the auto-reply signals (headers, the
    forms' subject and body words, a no-reply sender, arrival within :data:`AUTO_REPLY_WINDOW`
    of the submission unless the mail is a Re:), else a human reply — a refusal when its own
    words (quotes left out) decline further contact. ``echo_marker`` is what only the item's
    own message carries (its opt-out token): a mail that repeats it unquoted is the form's copy
    of the submission, and its line is never read as the sender's words (our 配信停止 line)."""
    why = _bounce(mail, envelope_sender.strip().lower())
    if why:
        return Verdict(Kind.BOUNCE, False, why)
    why = _auto(mail, received_at, submitted_at, echo_marker)
    if why:
        return Verdict(Kind.AUTO_REPLY, False, why)
    words = declines(f"{mail.subject}\n{own_words(mail.text, echo_marker)}")
    if words:
        return Verdict(Kind.REPLY, True, f"declines: {words[:100]}")
    return Verdict(Kind.REPLY, False, "a person's reply")
