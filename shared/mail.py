"""Outgoing e-mail over SMTP (server from :class:`shared.config.Settings`)."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from email.message import EmailMessage

from shared.config import Settings

__all__ = ["MailNotConfigured", "build_message", "smtp_connection"]


class MailNotConfigured(RuntimeError):  # noqa: N818
    """No SMTP server is configured (``MIKOMI_SMTP_HOST`` is empty)."""


def build_message(settings: Settings, to: Sequence[str], subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg.set_content(body, charset="utf-8")
    return msg


@contextmanager
def smtp_connection(settings: Settings, *, timeout_s: float = 15.0) -> Iterator[smtplib.SMTP]:
    """One logged-in SMTP session; raises :class:`MailNotConfigured` or an ``smtplib`` error."""
    if not settings.smtp_host:
        raise MailNotConfigured("MIKOMI_SMTP_HOST is not set")
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout_s) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        yield smtp
