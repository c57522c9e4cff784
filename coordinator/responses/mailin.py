"""``mikomi mailin``: the inbound SMTP server of MIKOMI_REPLY_DOMAIN (docs/operations.md#mailin).

It takes mail only for reply addresses that exist (``r-<token>@<domain>`` of an item) and only
up to MIKOMI_MAILIN_MAX_BYTES; everything else is refused during the SMTP conversation (RCPT or
DATA), so the sending server keeps the message and nothing of it reaches the database. Every
accept and every refusal is logged. An accepted message is stored and applied by
:func:`coordinator.responses.service.record`, one transaction per recipient.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import threading
from typing import Any, AnyStr

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from coordinator.responses import service
from shared import locks
from shared.config import Settings, get_settings
from shared.db import transaction
from shared.enums import ResponseKind
from shared.tracking import reply_token_of

log = logging.getLogger("mikomi.mailin")

FORWARD_RETRY_SECONDS = 60.0


class _LoggingSMTP(SMTP):
    """aiosmtpd answers an oversized message (SIZE= at MAIL, or too much DATA) itself, without
    asking the handler: its 552 is logged here so that no refusal goes unrecorded."""

    async def push(self, status: AnyStr) -> None:
        text = status.decode("ascii", "replace") if isinstance(status, bytes) else str(status)
        if text.startswith("552"):
            peer = self.session.peer if self.session is not None else None
            log.warning(
                "mailin: refused a message from %s (peer %s): %s", _sender(self), peer, text
            )
        await super().push(status)

    def _cb_client_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        super()._cb_client_connected(reader, writer)
        reader.__class__ = _BoundedReader
        assert isinstance(reader, _BoundedReader)
        reader.overrun_limit = self.data_size_limit or 0
        reader.overrun = 0


class _BoundedReader(asyncio.StreamReader):
    """aiosmtpd reads an over-long line (no line end within its line limit) in pieces and, in
    DATA, keeps every piece until the line end comes: a client that never sends one would fill
    the memory. Past ``overrun_limit`` bytes of one such line the connection is ended."""

    overrun_limit = 0
    overrun = 0

    async def readuntil(self, separator: Any = b"\n") -> bytes:
        line = await super().readuntil(separator)
        self.overrun = 0
        return line

    async def read(self, n: int = -1) -> bytes:
        data = await super().read(n)
        self.overrun += len(data)
        transport = getattr(self, "_transport", None)
        if self.overrun_limit and self.overrun > self.overrun_limit and transport is not None:
            log.warning("mailin: ended a connection sending a line of over %s bytes", self.overrun)
            transport.close()
        return data


def _sender(smtp: SMTP) -> str:
    envelope = getattr(smtp, "envelope", None)
    return str(getattr(envelope, "mail_from", "") or "")


class MailinHandler:
    def _check(self, address: str) -> str:
        with transaction() as db:
            return service.accept_recipient(db, address, domain=self.domain)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        try:
            await asyncio.to_thread(self._check, address)
        except service.RecipientRefused as refused:
            log.warning(
                "mailin: refused RCPT %s from %s (peer %s): %s",
                address[:200],
                envelope.mail_from,
                session.peer,
                refused.why,
            )
            return refused.reply
        except Exception:
            log.exception("mailin: could not check RCPT %s", address[:200])
            return "451 4.3.0 Temporary failure, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.domain = settings.reply_domain.strip().lower()
        self.max_bytes = settings.mailin_max_bytes
        # Forwardings under way (the loop keeps only weak references to its tasks).
        self.forwarding: set[asyncio.Task[int]] = set()

    def _store(self, token: str, raw: bytes, envelope_sender: str) -> bool:
        """Store the message for one recipient; True when it is a person's reply to forward."""
        with transaction() as db:
            row = service.record(db, token, raw, envelope_sender=envelope_sender)
            return row is not None and row.kind == ResponseKind.REPLY

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        if len(raw) > self.max_bytes:  # 552 is logged by _LoggingSMTP.push
            return "552 5.3.4 Message too big"
        sender = envelope.mail_from or ""
        forward = False
        try:
            for address in envelope.rcpt_tos:
                token = reply_token_of(address, self.domain)
                if token is not None:
                    forward = await asyncio.to_thread(self._store, token, raw, sender) or forward
        except Exception:
            # Nothing is lost: the sending server keeps the message and tries again.
            log.exception("mailin: could not store a message from %s", sender)
            return "451 4.3.0 Temporary failure, try again later"
        if forward:  # after the commit, without keeping the sending server waiting
            task = asyncio.create_task(asyncio.to_thread(service.forward_pending, self.settings))
            self.forwarding.add(task)
            task.add_done_callback(self.forwarding.discard)
        return "250 Message accepted"


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _LoggingSMTP(self.handler, **self.SMTP_kwargs)


def controller(settings: Settings, host: str, port: int) -> Controller:
    """A started-on-demand server (``.start()`` / ``.stop()``) for ``settings``."""
    kwargs: dict[str, Any] = {
        "data_size_limit": settings.mailin_max_bytes,
        "enable_SMTPUTF8": True,
        "ident": "Mikomi mailin",
    }
    if settings.mailin_tls_cert and settings.mailin_tls_key:
        # Offered, not required: a sending server without TLS still delivers (as to any MX).
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(settings.mailin_tls_cert, settings.mailin_tls_key)
        kwargs["tls_context"] = context
    return _Controller(
        MailinHandler(settings),
        hostname=host,
        port=port,
        server_hostname=settings.reply_domain or None,
        **kwargs,
    )


def run_forever(host: str, port: int) -> None:
    """Serve until SIGTERM/SIGINT. Every minute: resolve the in-doubt items whose mail came
    before they turned in_doubt, and forward replies whose forwarding failed."""
    settings = get_settings()
    if not settings.reply_domain:
        raise SystemExit("MIKOMI_REPLY_DOMAIN is not set: mailin has no domain to take mail for")
    # aiosmtpd logs every command at INFO; our own lines say what was accepted or refused.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    server = controller(settings, host, port)
    server.start()
    log.info(
        "mailin: listening on %s:%s for @%s (max %s bytes, STARTTLS %s)",
        host,
        port,
        settings.reply_domain,
        settings.mailin_max_bytes,
        "offered" if settings.mailin_tls_cert and settings.mailin_tls_key else "not offered",
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.is_set():
            try:
                with transaction() as db:
                    locks.writer_lock(db)
                    service.resolve_answered_in_doubt(db)
            except Exception:
                log.exception("mailin: resolving answered in-doubt items failed")
            try:
                service.forward_pending(settings)
            except Exception:
                log.exception("mailin: forwarding pending replies failed")
            stop.wait(FORWARD_RETRY_SECONDS)
    finally:
        server.stop()
        log.info("mailin: stopped")
