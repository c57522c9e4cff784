"""What the 反響 tests build and read: the mailin server's handle (the ``mailin`` fixture,
tests/coordinator/responses/conftest.py, runs it), committed items with reply addresses, and
the rows mailin leaves."""

from __future__ import annotations

import secrets
import smtplib
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared import clock
from shared.config import Settings
from shared.db import transaction
from shared.enums import ItemState, Role
from shared.locks import writer_lock
from shared.models import Reservation, Response, SendItem, User
from tests.builders import credit_tickets, force_outcomes, make_reservation
from tests.support.mail import Inbox

DOMAIN = "reply.mikomi.test"


@dataclass
class Mailin:
    port: int
    settings: Settings
    inbox: Inbox  # the member's mailbox: where replies are forwarded
    handler: object = field(default=None)

    def send(
        self, raw: bytes, to: list[str], mail_from: str = "tanaka@prospect.example.jp"
    ) -> dict:  # type: ignore[type-arg]
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
            return client.sendmail(mail_from, to, raw)


@dataclass
class Sent:
    reservation_id: int
    member_email: str
    items: dict[str, int]  # reply address → item id
    domains: dict[str, str]  # reply address → the item's domain


def make_sent_items(states: list[str], *, sent_ago: timedelta = timedelta(hours=1)) -> Sent:
    """A committed reservation of a member with a login whose items ended in ``states`` (in
    that order), each with its reply address, submitted ``sent_ago``."""
    from coordinator.accounts import service

    with transaction() as db:
        # A writer from the start (docs/architecture.md): mailin's forwarding may commit
        # between this transaction's first read and its first write.
        writer_lock(db)
        user = service.create_user(
            db,
            email=f"member-{uuid.uuid4().hex[:8]}@member.example.test",
            password="password-123",
            role=Role.MEMBER,
            company="反響テスト株式会社",
            name="会員 太郎",
        )
        db.flush()
        assert user.member is not None
        credit_tickets(db, user.member.id, 1000)
        reservation = make_reservation(db, member=user.member, items=len(states))
        reservation.created_by = user.id
        for state in dict.fromkeys(states):
            force_outcomes(db, reservation.id, states.count(state), state)
        # force_outcomes commits: the writer lock again before the next read, or a commit of
        # mailin's in between makes the writes below fail at once ("database is locked").
        writer_lock(db)
        at = clock.now() - sent_ago
        items: dict[str, int] = {}
        domains: dict[str, str] = {}
        for item in db.scalars(
            select(SendItem).where(SendItem.reservation_id == reservation.id).order_by(SendItem.id)
        ):
            item.reply_token = secrets.token_hex(10)
            item.submitting_at = item.finished_at = at
            address = f"r-{item.reply_token}@{DOMAIN}"
            items[address] = item.id
            domains[address] = item.domain
        return Sent(reservation.id, user.email, items, domains)


def snapshot(reservation_id: int) -> dict[str, object]:
    """What the database says about a reservation's 反響."""
    with transaction() as db:
        r = db.get(Reservation, reservation_id)
        assert r is not None
        n = db.scalar(select(func.count(Response.id)).where(Response.reservation_id == r.id))
        return {
            "responses": n,
            "auto_replies": r.auto_replies,
            "replies": r.replies,
            "refusals": r.refusals,
            "sent": r.sent,
            "in_doubt": r.in_doubt,
        }


def responses_of(db: Session, reservation_id: int) -> list[Response]:
    return list(
        db.scalars(
            select(Response).where(Response.reservation_id == reservation_id).order_by(Response.id)
        )
    )


def item_state(db: Session, item_id: int) -> str:
    item = db.get(SendItem, item_id)
    assert item is not None
    return item.state


def member_user(db: Session, email: str) -> User:
    user = db.scalar(select(User).where(User.email == email))
    assert user is not None
    return user


SENT = ItemState.SENT.value
IN_DOUBT = ItemState.IN_DOUBT.value
