"""A real ``mikomi mailin`` server (aiosmtpd, in a thread) over a committed database of its own
on each engine, and the rows it needs: a member with a login, a reservation, items with reply
addresses."""

from __future__ import annotations

import secrets
import smtplib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared import clock, migrate
from shared.config import Settings, get_settings
from shared.db import reset_engine, transaction
from shared.enums import ItemState, Role
from shared.models import Reservation, Response, SendItem, User
from tests.builders import credit_tickets, force_outcomes, make_reservation
from tests.conftest import ENGINES
from tests.support.databases import create_pg_database, drop_pg_database
from tests.support.mail import Inbox

DOMAIN = "reply.mikomi.test"


@pytest.fixture(scope="module", params=ENGINES)
def mail_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh migrated database that the mailin thread reaches through MIKOMI_DATABASE_URL."""
    pg_name = f"mikomi_mailin_{uuid.uuid4().hex[:10]}"
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('mailin') / 'mailin.db'}"
    else:
        url = create_pg_database(pg_name)
    migrate.upgrade(url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIKOMI_DATABASE_URL", url)
        get_settings.cache_clear()
        reset_engine()
        try:
            yield request.param
        finally:
            reset_engine()
            get_settings.cache_clear()
    reset_engine()
    if request.param == "postgresql":
        drop_pg_database(pg_name)


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


@pytest.fixture
def mailin(mail_db: str, smtp: tuple[Inbox, Settings]) -> Iterator[Mailin]:
    from coordinator.responses.mailin import controller
    from mikomi.supervisor import free_port

    inbox, sink = smtp
    settings = Settings(
        reply_domain=DOMAIN,
        mailin_max_bytes=50_000,
        smtp_host=sink.smtp_host,
        smtp_port=sink.smtp_port,
        mail_from="noreply@mikomi.test",
    )
    server = controller(settings, "127.0.0.1", free_port())
    server.start()
    try:
        yield Mailin(port=server.port, settings=settings, inbox=inbox, handler=server.handler)
    finally:
        server.stop()


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
