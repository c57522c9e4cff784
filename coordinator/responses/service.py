"""反響: the mail that comes back to the items' reply addresses (docs/rules.md#responses).

``mailin`` (coordinator/responses/mailin.py) asks :func:`accept_recipient` at RCPT time and
hands each accepted message to :func:`record`, which stores it, counts it on its reservation,
suppresses a refusing domain and resolves an ``in_doubt`` item an automatic reply proves sent;
after the commit mailin forwards a person's reply to the member (:func:`forward_pending`). The
pages and the API read them through :func:`list_for` and :func:`counts`. Never commits.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from coordinator.accounts.service import Principal
from coordinator.errors import AppError
from coordinator.reservations.service import visible
from coordinator.reservations.views import DEFAULT_PER_PAGE, paging
from coordinator.responses import classify, message, rates, repository
from coordinator.responses.schemas import ResponseCounts, ResponseList, ResponseOut
from shared import clock, items, labels, locks
from shared.config import Settings, get_settings
from shared.db import transaction
from shared.enums import ItemState, ResponseKind
from shared.events import publish_after_commit
from shared.mail import MailNotConfigured, build_message, smtp_connection
from shared.models import Reservation, Response, SendItem
from shared.suppression import SuppressionReason, suppress
from shared.tracking import reply_token_of

log = logging.getLogger("mikomi.mailin")


class RecipientRefused(Exception):  # noqa: N818 - a verdict, not a failure
    """An RCPT that mailin refuses: ``reply`` is the SMTP answer, ``why`` the log's word."""

    def __init__(self, reply: str, why: str) -> None:
        super().__init__(why)
        self.reply = reply
        self.why = why


def accept_recipient(db: Session, address: str, *, domain: str) -> str:
    """The token of an address mailin takes mail for; raises :class:`RecipientRefused` for any
    other domain (no relaying) and for a reply address whose token no item carries."""
    host = address.strip().strip("<>").rpartition("@")[2].lower()
    if not domain or host != domain.lower():
        raise RecipientRefused("550 5.7.1 Relaying denied", "relay")
    token = reply_token_of(address, domain)
    if token is None or not repository.token_exists(db, token):
        raise RecipientRefused("550 5.1.1 No such user here", "unknown_token")
    return token


def counted_as(kind: str, refusal: bool) -> ResponseKind:
    return ResponseKind.REFUSAL if refusal else ResponseKind(kind)


_COUNTER = {
    ResponseKind.AUTO_REPLY: "auto_replies",
    ResponseKind.REPLY: "replies",
    ResponseKind.REFUSAL: "refusals",
}


def record(
    db: Session,
    token: str,
    raw: bytes,
    *,
    envelope_sender: str,
    now: datetime | None = None,
) -> Response | None:
    """Store one message for the item of ``token`` and apply what it means, in the caller's
    transaction. None when no item carries the token (any more). A person's reply is forwarded
    by :func:`forward_pending` once this has committed."""
    now = now or clock.now()
    locks.writer_lock(db)
    item = repository.item_by_token(db, token)
    if item is None:
        return None
    mail = message.parse(raw)
    verdict = classify.classify(
        mail,
        envelope_sender=envelope_sender,
        received_at=now,
        submitted_at=item.submitting_at or item.finished_at,
        echo_marker=item.optout_token,
    )
    reservation = locks.lock_reservation(db, item.reservation_id)
    # Its state as of now: the reaper or the send job may have turned it in_doubt while this
    # waited for the lock (on PostgreSQL the read above did not wait for them).
    db.refresh(item)
    if mail.message_id:
        # The same mail again (a retry after a temporary failure of another recipient, a
        # second MX host): stored and applied once.
        seen = repository.by_message_id(db, item.id, mail.message_id)
        if seen is not None:
            log.info("mailin: %s for item %s was received before", mail.message_id, item.id)
            return seen
    shown = counted_as(verdict.kind, verdict.refusal)
    first_of_its_kind = not repository.has_response(
        db, item.id, verdict.kind, refusal=verdict.refusal
    )
    row = Response(
        item_id=item.id,
        reservation_id=reservation.id,
        kind=verdict.kind.value,
        refusal=verdict.refusal,
        mail_from=(mail.sender or envelope_sender)[:320],
        subject=mail.subject[:500],
        body_text=mail.text,
        headers={**mail.headers, "x-mikomi-classified": verdict.why},
        message_id=mail.message_id,
        size=len(raw),
        received_at=now,
    )
    db.add(row)
    db.flush()
    # The counters count items, not mails: a second auto-reply to one item proves nothing new.
    counter = _COUNTER.get(shown)
    if counter and first_of_its_kind:
        setattr(reservation, counter, getattr(reservation, counter) + 1)
    if verdict.refusal:
        _suppress_refusing_domain(db, item, row)
    if verdict.kind in (ResponseKind.AUTO_REPLY, ResponseKind.REPLY):
        _resolve_in_doubt(db, item, row, now)
    publish_after_commit(db, reservation)
    log.info(
        "mailin: accepted %s for item %s (reservation %s) from %s: %s (%s)",
        shown.value,
        item.id,
        reservation.id,
        row.mail_from,
        row.subject[:80],
        verdict.why,
    )
    return row


def _suppress_refusing_domain(db: Session, item: SendItem, row: Response) -> None:
    """The same entry a 営業お断り notice on the page makes (shared.items.record_outcome)."""
    try:
        suppress(
            db,
            item.domain,
            reason=SuppressionReason.REFUSED_SALES,
            note=f"返信でのお断り (item {item.id}, 反響 {row.id})",
        )
    except ValueError:
        log.warning("mailin: item %s has no domain to suppress (%r)", item.id, item.domain)


def _resolve_in_doubt(db: Session, item: SendItem, row: Response, now: datetime) -> bool:
    """An ``in_doubt`` item the site answered was delivered: resolved as ``sent`` by the
    system (shared.items.resolve_in_doubt_by_mail, the same path an outcome recorded after
    the mail takes)."""
    if item.state != ItemState.IN_DOUBT:
        return False
    try:
        items.resolve_in_doubt_by_mail(db, item.id, row, now=now)
    except ValueError:  # another mail resolved it first (it waited on the reservation's lock)
        return False
    return True


def resolve_answered_in_doubt(db: Session, now: datetime | None = None) -> int:
    """Resolve the ``in_doubt`` items whose auto-reply or reply was stored while they were
    still ``submitting`` and that turned ``in_doubt`` by another way than the send job's own
    outcome (which resolves them itself, shared.items.record_outcome): the reaper, when the
    worker died after the click. mailin runs this every minute. Returns how many."""
    now = now or clock.now()
    resolved = 0
    for item_id, response_id in repository.answered_in_doubt(db):
        item = db.get(SendItem, item_id)
        row = db.get(Response, response_id)
        assert item is not None and row is not None
        if _resolve_in_doubt(db, item, row, now):
            resolved += 1
    return resolved


# --- forwarding --------------------------------------------------------------------------------

_forwarding = (
    threading.Lock()
)  # one forwarder at a time in this process (locks.forward_lock: in all)
_unconfigured_said = threading.Event()
# What one message meets when the server is reached but will not take it (every other failure,
# a refused or broken connection, waits for the next call with the replies behind it).
_REFUSED = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
    smtplib.SMTPNotSupportedError,
    ValueError,
    UnicodeError,
)


def _forward_text(row: Response, item: SendItem, reservation: Reservation) -> str:
    return (
        "Mikomi の送信先から返信が届きました。このメールに返信すると送信元に届きます。\n\n"
        f"予約No: {reservation.id}\n"
        f"送信先: {item.company} ({item.url})\n"
        f"差出人: {row.mail_from}\n"
        f"件名: {row.subject}\n"
        f"受信日時: {row.received_at.isoformat(timespec='seconds')}\n"
        f"{'-' * 40}\n"
        f"{row.body_text}\n"
    )


def forward_pending(settings: Settings | None = None, now: datetime | None = None) -> int:
    """Forward each person's reply not forwarded yet (the last week's) to the member's own
    address, as plain text with the original sender as Reply-To; ``forwarded_at`` is set once
    the SMTP server took it. A failure leaves it for the next call. Returns how many went."""
    with _forwarding, transaction() as guard:
        # Another mailin (a second MX host) forwards the same pending replies: its round ends
        # before this one reads them, so each reply goes out once.
        locks.forward_lock(guard)
        return _forward(settings or get_settings(), now or clock.now())


def _forward(settings: Settings, now: datetime) -> int:
    since = now - timedelta(days=repository.RETRY_FORWARDS_FOR_DAYS)
    sent = 0
    after_id = 0
    while True:
        with transaction() as db:
            pending = repository.to_forward(db, since, after_id=after_id)
            jobs = []
            for row in pending:
                item = db.get(SendItem, row.item_id)
                reservation = db.get(Reservation, row.reservation_id)
                assert item is not None and reservation is not None
                jobs.append((repository.member_address(db, reservation), row, item, reservation))
        for to, row, item, reservation in jobs:
            after_id = row.id
            went = _forward_one(settings, to, row, item, reservation)
            if went is None:  # the SMTP server is out of reach: all wait for the next call
                return sent
            sent += went
        if len(jobs) < repository.FORWARD_BATCH:
            return sent


def _forward_one(
    settings: Settings, to: str | None, row: Response, item: SendItem, reservation: Reservation
) -> int | None:
    """Forward one reply: 1 when it went, 0 when this reply could not go (no member address,
    refused by the SMTP server: it is tried again next time, the others go on), None when no
    SMTP server can be reached at all."""
    if not to:
        log.warning("mailin: reply %s has no member address to go to", row.id)
        return 0
    try:
        msg = build_message(
            settings,
            [to],
            f"【反響】{row.subject or '(件名なし)'}"[:200],
            _forward_text(row, item, reservation),
        )
        if row.mail_from:
            msg["Reply-To"] = row.mail_from
        with smtp_connection(settings) as smtp:
            smtp.send_message(msg)
    except MailNotConfigured:
        if not _unconfigured_said.is_set():  # once per process, not every minute
            _unconfigured_said.set()
            log.warning("mailin: MIKOMI_SMTP_HOST is not set: replies are not forwarded")
        return None
    except _REFUSED:
        # The server would not take this message (its recipient, its sender, its content), or
        # it could not be built: one such reply must not hold back the replies behind it.
        log.exception("mailin: forwarding reply %s failed; it is tried again later", row.id)
        return 0
    except Exception:
        log.exception("mailin: forwarding reply %s failed; it is tried again later", row.id)
        return None
    with transaction() as db:
        locks.writer_lock(db)
        stored = db.get(Response, row.id)
        if stored is not None:
            stored.forwarded_at = clock.now()
    log.info("mailin: reply %s forwarded to %s", row.id, to)
    return 1


# --- reading -----------------------------------------------------------------------------------


def counts(reservation: Reservation) -> ResponseCounts:
    c = rates.counts_of(reservation)
    return ResponseCounts(**asdict(c), rates=rates.rates(c).as_dict())


def response_out(row: Response, item: SendItem) -> ResponseOut:
    shown = counted_as(row.kind, row.refusal)
    return ResponseOut(
        id=row.id,
        item_id=row.item_id,
        reservation_id=row.reservation_id,
        kind=row.kind,
        counted_as=shown.value,
        counted_as_ja=labels.label(labels.RESPONSE_KIND, shown),
        refusal=row.refusal,
        mail_from=row.mail_from,
        subject=row.subject,
        text=row.body_text,
        message_id=row.message_id,
        size=row.size,
        received_at=row.received_at,
        forwarded_at=row.forwarded_at,
        company=item.company,
        domain=item.domain,
    )


def list_for(
    db: Session,
    principal: Principal,
    reservation_id: int,
    *,
    kind: str | None = None,
    page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
) -> ResponseList:
    """The reservation's received mail, newest first, for whoever may see the reservation
    (its member, operators); ``kind`` = auto_reply | reply | bounce."""
    reservation = visible(db, principal, reservation_id)
    page, per_page = paging(page, per_page)
    kinds: tuple[str, ...] = ()
    if kind:
        if kind not in (ResponseKind.AUTO_REPLY, ResponseKind.REPLY, ResponseKind.BOUNCE):
            raise AppError("invalid_filter", f"種類 {kind[:30]} はありません", field="kind")
        kinds = (kind,)
    total, rows = repository.for_reservation(
        db, reservation.id, kinds=kinds, offset=(page - 1) * per_page, limit=per_page
    )
    return ResponseList(
        reservation_id=reservation.id,
        total=total,
        page=page,
        per_page=per_page,
        counts=counts(reservation),
        responses=[response_out(r, i) for r, i in rows],
    )
