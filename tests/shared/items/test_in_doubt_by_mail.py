"""A form's automatic reply often arrives before the engine gives up reading the page after
the click: an item about to be recorded ``in_doubt`` that already has such a mail is resolved
as ``sent`` by the system (docs/rules.md#responses), once, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared import clock, items, ledger
from shared.enums import ResponseKind
from shared.models import Response, SendItem, TicketLedgerEntry
from tests.builders import assert_counters_add_up, make_reservation


def _submitting(db: Session) -> tuple[SendItem, str]:
    reservation = make_reservation(db, items=1)
    [(item_id, token)] = items.claim(db, reservation.id, 1, "w1")
    assert items.start(db, item_id, token, "w1") is not None
    assert items.enter_submitting(db, item_id, token)
    item = db.get(SendItem, item_id)
    assert item is not None
    return item, token


def _mail(db: Session, item: SendItem, kind: ResponseKind) -> Response:
    row = Response(item_id=item.id, reservation_id=item.reservation_id, kind=kind.value,
                   received_at=clock.now())  # fmt: skip
    db.add(row)
    db.flush()
    return row


@pytest.mark.parametrize("kind", [ResponseKind.AUTO_REPLY, ResponseKind.REPLY])
def test_a_mail_that_came_first_makes_the_in_doubt_outcome_sent(
    db: Session, kind: ResponseKind
) -> None:
    item, token = _submitting(db)
    proof = _mail(db, item, kind)
    unconfirmed = items.Outcome(status="in_doubt", reason="unconfirmed", submitted=True)
    recorded = items.record_outcome(db, item.id, token, unconfirmed)
    assert recorded is not None
    db.refresh(item)
    assert (item.state, item.reason, item.resolved_by) == ("sent", None, None)
    assert item.evidence and item.evidence["resolution"]["response_id"] == proof.id
    consumed = db.scalars(
        select(TicketLedgerEntry).where(
            TicketLedgerEntry.item_id == item.id, TicketLedgerEntry.kind == "consume"
        )
    ).all()
    assert len(consumed) == 1
    assert ledger.balance(db, item.member_id).consumed == 1
    counts = assert_counters_add_up(db, item.reservation_id)
    assert counts.get("sent") == 1 and not counts.get("in_doubt")


def test_no_mail_or_a_bounce_leaves_it_in_doubt(db: Session) -> None:
    item, token = _submitting(db)
    _mail(db, item, ResponseKind.BOUNCE)
    unconfirmed = items.Outcome(status="in_doubt", reason="unconfirmed", submitted=True)
    assert items.record_outcome(db, item.id, token, unconfirmed) is not None
    db.refresh(item)
    assert (item.state, item.reason) == ("in_doubt", "unconfirmed")
    assert ledger.balance(db, item.member_id).consumed == 0
    # The mail resolves it when it is the one that comes second.
    proof = _mail(db, item, ResponseKind.AUTO_REPLY)
    items.resolve_in_doubt_by_mail(db, item.id, proof)
    db.refresh(item)
    assert item.state == "sent" and item.resolved_by is None
    with pytest.raises(ValueError):
        items.resolve_in_doubt_by_mail(db, item.id, proof)  # once only
    assert ledger.balance(db, item.member_id).consumed == 1
