"""An auto-reply that waits for the reservation's lock while the reaper (or the send job)
turns its item ``in_doubt`` resolves the item at once (docs/rules.md#responses, RP6): mailin
reads the item's state under the lock, not the state it saw before waiting (which left the
item in_doubt until the minute sweep). PostgreSQL, where readers do not wait for writers."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from shared import ledger, locks
from shared.db import session_factory, transaction
from shared.items._machine import move
from shared.models import SendItem
from tests.coordinator.responses import mails
from tests.coordinator.responses.replies import (
    IN_DOUBT,
    SENT,
    Mailin,
    item_state,
    make_sent_items,
)
from tests.support.processes import wait_until


def test_mail_waiting_on_the_lock_sees_the_item_turn_in_doubt(mail_db: str, mailin: Mailin) -> None:
    if mail_db == "sqlite":
        pytest.skip("SQLite: mailin takes the writer lock before it reads the item")
    sent = make_sent_items([IN_DOUBT], sent_ago=timedelta(seconds=30))
    [address] = sent.items
    item_id = sent.items[address]
    with transaction() as db:  # still being submitted, as far as anyone has committed
        item = db.get(SendItem, item_id)
        assert item is not None
        reservation = locks.lock_reservation(db, item.reservation_id)
        move(reservation, item, "submitting")
        member_id = item.member_id
        consumed_before = ledger.balance(db, member_id).consumed

    reaper = session_factory()()
    try:
        item = reaper.get(SendItem, item_id)
        assert item is not None
        move(locks.lock_reservation(reaper, item.reservation_id), item, IN_DOUBT)
        reaper.flush()
        auto = mails.utf8_qp(address, "【自動返信】お問い合わせありがとうございます", "受付")
        delivery = threading.Thread(target=mailin.send, args=(auto, [address]))
        delivery.start()

        def mailin_waits() -> bool:
            with transaction() as db:
                return bool(
                    db.scalar(
                        select(func.count())
                        .select_from(text("pg_stat_activity"))
                        .where(text("wait_event_type = 'Lock' AND datname = current_database()"))
                    )
                )

        wait_until(mailin_waits, 20, "mailin waiting for the reservation's lock")
        reaper.commit()
    finally:
        reaper.close()
    delivery.join(timeout=20)
    with transaction() as db:
        assert item_state(db, item_id) == SENT
        assert ledger.balance(db, member_id).consumed - consumed_before == 1
