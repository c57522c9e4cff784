"""Forwarding replies to the members (docs/rules.md#responses, RP7) through a real SMTP server
(aiosmtpd) that refuses one member's address: that reply waits for the next round, and the
replies behind it go out all the same (one refused message held back every later reply for a
week); two mailin processes (two MX hosts) forward a reply once. On both engines."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from coordinator.responses import service
from mikomi.supervisor import free_port
from shared.config import PROJECT_ROOT, Settings
from shared.db import transaction
from shared.models import Response, User
from tests.coordinator.responses import mails
from tests.coordinator.responses.replies import SENT, make_sent_items, responses_of
from tests.support.processes import service_env


class _RefusingInbox:
    """Takes every recipient but those whose address starts with ``refused-``."""

    def __init__(self) -> None:
        self.received: list[str] = []

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("refused-"):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.extend(envelope.rcpt_tos)
        return "250 OK"


@pytest.fixture
def refusing_smtp() -> Iterator[tuple[_RefusingInbox, Settings]]:
    inbox = _RefusingInbox()
    server = Controller(inbox, hostname="127.0.0.1", port=free_port())
    server.start()
    try:
        yield (
            inbox,
            Settings(smtp_host="127.0.0.1", smtp_port=server.port, mail_from="noreply@mikomi.test"),
        )
    finally:
        server.stop()


def _reply_to(address: str, item_token: str) -> None:
    with transaction() as db:
        service.record(
            db,
            item_token,
            mails.iso2022jp(address, "Re: ご提案の件", "一度お話を伺えますでしょうか。"),
            envelope_sender=mails.FROM,
        )


def test_a_refused_forward_holds_back_no_other_reply(
    mail_db: str, refusing_smtp: tuple[_RefusingInbox, Settings]
) -> None:
    inbox, settings = refusing_smtp
    refused = make_sent_items([SENT])
    accepted = make_sent_items([SENT])
    with transaction() as db:
        user = db.scalar(select(User).where(User.email == refused.member_email))
        assert user is not None
        user.email = f"refused-{user.email}"
    # the refused member's reply is the older one: it comes first in every round
    for sent in (refused, accepted):
        [address] = sent.items
        _reply_to(address, address.split("@")[0].removeprefix("r-"))

    assert service.forward_pending(settings) == 1
    assert inbox.received == [accepted.member_email]
    with transaction() as db:
        [waiting] = responses_of(db, refused.reservation_id)
        [went] = responses_of(db, accepted.reservation_id)
        assert waiting.forwarded_at is None  # tried again next time
        assert went.forwarded_at is not None
        assert db.scalar(select(Response.id).where(Response.forwarded_at.is_(None))) == waiting.id


class _SlowInbox:
    """An SMTP server that takes its time over each message, as a busy relay does."""

    def __init__(self) -> None:
        self.received: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        await asyncio.sleep(4)
        self.received.extend(envelope.rcpt_tos)
        return "250 OK"


def test_two_mailin_processes_forward_a_reply_once(mail_db: str) -> None:
    if mail_db == "sqlite":
        pytest.skip("SQLite is one host's database: one mailin forwards")
    sent = make_sent_items([SENT])
    [address] = sent.items
    _reply_to(address, address.split("@")[0].removeprefix("r-"))
    inbox = _SlowInbox()
    server = Controller(inbox, hostname="127.0.0.1", port=free_port())
    server.start()
    settings = Settings(smtp_host="127.0.0.1", smtp_port=server.port, mail_from="noreply@m.test")
    other = (
        "from coordinator.responses import service; from shared.config import Settings; "
        f"service.forward_pending(Settings(smtp_host='127.0.0.1', smtp_port={server.port}, "
        "mail_from='noreply@m.test'))"
    )
    try:
        # the second MX host's mailin, on its minute, while this one forwards
        second = subprocess.Popen(
            [sys.executable, "-c", other],
            cwd=PROJECT_ROOT,
            env=service_env(MIKOMI_DATABASE_URL=os.environ["MIKOMI_DATABASE_URL"]),
        )
        service.forward_pending(settings)
        assert second.wait(timeout=60) == 0
    finally:
        server.stop()
    # (a reply an earlier test's server refused goes out too: it is another member's)
    assert inbox.received.count(sent.member_email) == 1
