"""The sweeper applies the time-based rules as of the clock it is given, and mails the result."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from coordinator import sweeper
from coordinator.accounts import service as accounts
from coordinator.reservations import service
from shared import clock
from shared.config import get_settings
from shared.db import reset_engine
from shared.enums import OrderStatus, ReservationStatus
from shared.models import AuthToken
from tests.builders import MemberEnv, make_order, principal_of
from tests.support.mail import Inbox

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def mail_settings(smtp, monkeypatch) -> Iterator[Inbox]:  # type: ignore[no-untyped-def]  # noqa: F811
    inbox, settings = smtp
    monkeypatch.setenv("MIKOMI_SMTP_HOST", settings.smtp_host)
    monkeypatch.setenv("MIKOMI_SMTP_PORT", str(settings.smtp_port))
    get_settings.cache_clear()
    yield inbox
    monkeypatch.undo()
    get_settings.cache_clear()


def test_run_once_applies_every_rule_at_its_boundary(db, make_user, mail_settings) -> None:  # type: ignore[no-untyped-def]
    inbox = mail_settings
    clock.set_clock(T0)
    env = MemberEnv(db, make_user, tickets=1_000, prospects=600)
    op_user, _ = make_user("operator", company=None)
    r = env.reserve(db, approved_by=principal_of(op_user))
    service.pause(db, env.principal, r.id)
    order = make_order(db, env.member_id, applied_on=date(2026, 2, 20))  # due on 2026-03-02
    _, session_row = accounts.issue_token(db, op_user, "session")  # lives 12 hours
    session_id = session_row.id
    db.commit()
    inbox.messages.clear()

    at_12h = sweeper.run_once(T0 + timedelta(hours=12), db=db)
    # The 12-hour session has expired and is gone; the operator's 30-day API token is not.
    assert at_12h["tokens_purged"] >= 1
    db.expire_all()
    assert db.get(AuthToken, session_id) is None
    assert db.query(AuthToken).filter(AuthToken.user_id == op_user.id).count() == 1
    assert at_12h["paused_auto_cancelled"] == 0
    assert r.status == ReservationStatus.PAUSED
    # 21:00 UTC is already 3 March in Japan: the order due on 2 March is overdue.
    assert at_12h["orders_expired"] == 1
    db.refresh(order)
    assert order.status == OrderStatus.EXPIRED

    after = sweeper.run_once(T0 + timedelta(hours=12, seconds=1), db=db)
    assert after["paused_auto_cancelled"] == 1
    assert min(after.values()) >= 0
    db.refresh(r)
    assert r.status == ReservationStatus.AUTO_CANCELLED
    # The auto-cancel went out by e-mail to the member's user (and to the operator).
    recipients = {
        rcpt
        for rcpts, msg in inbox.messages
        for rcpt in rcpts
        if "自動キャンセル" in str(msg["Subject"])
    }
    assert env.user.email in recipients and op_user.email in recipients


def test_run_forever_ticks_until_stopped(database_urls, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MIKOMI_DATABASE_URL", database_urls["sqlite"])
    get_settings.cache_clear()
    reset_engine()
    try:
        once = sweeper.run_once()
        assert set(once) == {name for name, _ in sweeper.RULES}
        assert "imports_interrupted" in once
        assert min(once.values()) >= 0  # every rule ran on the real sessions
        stop = threading.Event()
        thread = threading.Thread(target=sweeper.run_forever, args=(0.05, stop), daemon=True)
        thread.start()
        stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        reset_engine()
