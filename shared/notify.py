"""Notifications: an in-app row now, an e-mail shortly after.

:func:`notify` only inserts the row (inside the caller's transaction) and asks for mail
delivery right after that transaction commits (``shared.db.after_commit``). The sweeper
calls :func:`deliver_pending_mail` on every tick as well, so mail written by workers or lost to
an SMTP outage still goes out; ``emailed_at`` marks what has been sent.
"""

from __future__ import annotations

import logging
import smtplib
from contextlib import ExitStack
from functools import partial
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from shared import clock
from shared.config import Settings, get_settings
from shared.db import after_commit, transaction
from shared.enums import NotificationKind, Role
from shared.mail import build_message, smtp_connection
from shared.models import Notification, User

__all__ = ["deliver_pending_mail", "mail_text", "notify", "recipients"]

log = logging.getLogger(__name__)

_BATCH = 200


def notify(
    db: Session,
    *,
    kind: NotificationKind,
    title: str,
    body: str = "",
    member_id: int | None = None,
    for_operators: bool = False,
    reservation_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> Notification:
    """Insert an in-app notification for a member's users and/or every operator.

    ``kind`` is a member of the enum (its label is in shared.labels); a string that is not one
    of its words is refused, so no notification shows an unlabelled word."""
    if member_id is None and not for_operators:
        raise ValueError("a notification needs a member or for_operators=True")
    row = Notification(
        member_id=member_id,
        for_operators=for_operators,
        reservation_id=reservation_id,
        kind=NotificationKind(kind).value,
        title=title[:300],
        body=body,
        data=data,
        created_at=clock.now(),
    )
    db.add(row)
    db.flush()
    # One delivery per commit is enough, however many notifications it made.
    after_commit(db, partial(_deliver_after_commit, db), key="notify.mail")
    return row


def _deliver_after_commit(db: Session) -> None:
    settings = get_settings()
    if not settings.smtp_host:
        return
    try:
        with transaction(db):
            deliver_pending_mail(db, settings)
    except Exception:  # the notifications committed already; the sweeper will retry
        log.exception("notification mail delivery failed")


def recipients(db: Session, notification: Notification) -> list[str]:
    """E-mail addresses of the active users a notification is for."""
    conditions = []
    if notification.member_id is not None:
        conditions.append(User.member_id == notification.member_id)
    if notification.for_operators:
        conditions.append(User.role == Role.OPERATOR.value)
    if not conditions:
        return []
    return list(
        db.scalars(
            select(User.email).where(User.is_active.is_(True), or_(*conditions)).order_by(User.id)
        )
    )


def mail_text(notification: Notification, settings: Settings) -> tuple[str, str]:
    """(subject, body) of a notification's e-mail."""
    subject = f"[Mikomi] {notification.title}"
    lines = [notification.title, ""]
    if notification.body:
        lines += [notification.body, ""]
    base = settings.public_base_url.rstrip("/")
    if notification.reservation_id is not None:
        lines.append(f"予約ID: {notification.reservation_id}")
    lines += [f"お知らせ一覧: {base}/notifications", "", "-- ", "Mikomi"]
    return subject, "\n".join(lines)


def deliver_pending_mail(db: Session, settings: Settings) -> int:
    """E-mail every notification not yet e-mailed; returns how many notifications went out.

    Each recipient gets a message of their own (addresses are not shown to each other), over
    one SMTP connection per run. Each row is claimed with a conditional UPDATE before its mail
    is sent, so two deliverers (the sweeper and a coordinator request) do not both send it; an
    SMTP error un-claims the row and stops the run, and the next run retries it (delivery is
    at least once). The caller commits.
    """
    if not settings.smtp_host:
        return 0
    query = (
        select(Notification)
        .where(Notification.emailed_at.is_(None))
        .order_by(Notification.id)
        .limit(_BATCH)
    )
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(db.scalars(query))
    if not rows:
        return 0
    sent = 0
    with ExitStack() as stack:
        smtp: smtplib.SMTP | None = None
        for row in rows:
            now = clock.now()
            claimed = db.execute(
                update(Notification)
                .where(Notification.id == row.id, Notification.emailed_at.is_(None))
                .values(emailed_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                continue
            row.emailed_at = now
            to = recipients(db, row)
            if not to:
                continue  # nobody to tell; marked so that it is not retried forever
            subject, text = mail_text(row, settings)
            try:
                if smtp is None:
                    smtp = stack.enter_context(smtp_connection(settings))
                for address in to:
                    smtp.send_message(build_message(settings, [address], subject, text))
            except Exception:
                log.exception("sending notification %s failed", row.id)
                db.execute(
                    update(Notification)
                    .where(Notification.id == row.id)
                    .values(emailed_at=None)
                    .execution_options(synchronize_session=False)
                )
                row.emailed_at = None
                break
            sent += 1
    db.flush()
    return sent
