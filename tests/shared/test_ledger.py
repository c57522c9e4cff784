"""The append-only ticket ledger: balances after every operation, never negative."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from shared import ledger
from shared.enums import LedgerKind
from shared.models import Member, Reservation, Script, TicketLedgerEntry, TicketOrder
from tests.builders import credit_tickets, make_bare_reservation, make_member, make_sent_item


def check_balanced(db: Session, member_id: int) -> ledger.Balance:
    """The balance equals its definition over the raw rows, and nothing is negative."""
    sums = dict(
        db.execute(
            select(TicketLedgerEntry.kind, func.sum(TicketLedgerEntry.quantity))
            .where(TicketLedgerEntry.member_id == member_id)
            .group_by(TicketLedgerEntry.kind)
        ).all()
    )
    get = lambda k: int(sums.get(k.value, 0) or 0)  # noqa: E731
    bal = ledger.balance(db, member_id)
    assert bal.credited == get(LedgerKind.PURCHASE)
    assert bal.consumed == get(LedgerKind.CONSUME)
    assert bal.held == get(LedgerKind.HOLD) - get(LedgerKind.RELEASE) - get(LedgerKind.CONSUME)
    assert bal.available == bal.credited - bal.consumed - bal.held
    assert min(bal.available, bal.held, bal.consumed, bal.credited) >= 0
    return bal


def test_every_operation_moves_the_balance_as_defined(db: Session) -> None:
    member = make_member(db, tickets=0)
    assert ledger.balance(db, member.id) == ledger.Balance(0, 0, 0, 0)
    order = credit_tickets(db, member.id, 2000)
    assert check_balanced(db, member.id) == ledger.Balance(2000, 0, 0, 2000)
    # Crediting the same order twice is a no-op (payment confirmations may be retried).
    ledger.credit_purchase(db, member.id, 2000, order.id)
    assert check_balanced(db, member.id).credited == 2000

    res = make_bare_reservation(db, member.id, 500)
    ledger.hold(db, member.id, 500, reservation_id=res.id)
    assert check_balanced(db, member.id) == ledger.Balance(2000, 0, 500, 1500)
    assert ledger.reservation_hold_outstanding(db, res.id) == 500

    ledger.consume(db, member.id, reservation_id=res.id, item_id=make_sent_item(db, res))
    assert check_balanced(db, member.id) == ledger.Balance(2000, 1, 499, 1500)
    assert ledger.reservation_hold_outstanding(db, res.id) == 499

    assert ledger.release(db, member.id, reservation_id=res.id, quantity=99) == 99
    assert check_balanced(db, member.id) == ledger.Balance(2000, 1, 400, 1599)
    # Releasing never returns more than is held.
    assert ledger.release(db, member.id, reservation_id=res.id, quantity=10_000) == 400
    assert check_balanced(db, member.id) == ledger.Balance(2000, 1, 0, 1999)
    assert ledger.release(db, member.id, reservation_id=res.id) == 0


def test_hold_beyond_available_raises_and_writes_nothing(db: Session) -> None:
    member = make_member(db, tickets=0)
    credit_tickets(db, member.id, 1000)
    res = make_bare_reservation(db, member.id)
    with pytest.raises(ledger.InsufficientTickets) as info:
        ledger.hold(db, member.id, 1001, reservation_id=res.id)
    assert info.value.available == 1000
    ledger.hold(db, member.id, 1000, reservation_id=res.id)  # exactly available is fine
    assert check_balanced(db, member.id).available == 0
    with pytest.raises(ledger.InsufficientTickets):
        ledger.hold(db, member.id, 1, reservation_id=res.id)
    with pytest.raises(ValueError):
        ledger.hold(db, member.id, 0, reservation_id=res.id)


def test_consume_is_once_per_item_and_tops_up_an_exhausted_hold(db: Session) -> None:
    member = make_member(db, tickets=0)
    credit_tickets(db, member.id, 1000)
    res = make_bare_reservation(db, member.id)
    ledger.hold(db, member.id, 1, reservation_id=res.id)
    first = make_sent_item(db, res)
    a = ledger.consume(db, member.id, reservation_id=res.id, item_id=first)
    b = ledger.consume(db, member.id, reservation_id=res.id, item_id=first)
    assert a is not None and b is not None and a.id == b.id
    assert check_balanced(db, member.id) == ledger.Balance(1000, 1, 0, 999)
    # An item that was in flight when the hold ran out still costs one ticket, from available.
    ledger.consume(db, member.id, reservation_id=res.id, item_id=make_sent_item(db, res))
    assert check_balanced(db, member.id) == ledger.Balance(1000, 2, 0, 998)


def test_consume_with_nothing_available_is_not_charged(db: Session) -> None:
    member = make_member(db, tickets=0)
    credit_tickets(db, member.id, 1000)
    res = make_bare_reservation(db, member.id)
    ledger.hold(db, member.id, 1000, reservation_id=res.id)
    ledger.release(db, member.id, reservation_id=res.id)
    other = make_bare_reservation(db, member.id)
    ledger.hold(db, member.id, 1000, reservation_id=other.id)
    assert (
        ledger.consume(db, member.id, reservation_id=res.id, item_id=make_sent_item(db, res))
        is None
    )
    assert check_balanced(db, member.id) == ledger.Balance(1000, 0, 1000, 0)


def test_members_do_not_share_tickets(db: Session) -> None:
    a, b = make_member(db, tickets=0, company="A社"), make_member(db, tickets=0, company="B社")
    credit_tickets(db, a.id, 3000)
    res_b = make_bare_reservation(db, b.id)
    with pytest.raises(ledger.InsufficientTickets):
        ledger.hold(db, b.id, 300, reservation_id=res_b.id)
    assert check_balanced(db, b.id).available == 0
    assert check_balanced(db, a.id).available == 3000


# --- random sequences (hypothesis) --------------------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), st.sampled_from([1000, 2000, 5000])),
        st.tuples(st.just("hold"), st.integers(min_value=1, max_value=4000)),
        st.tuples(st.just("send"), st.integers(min_value=0, max_value=5)),
        st.tuples(st.just("release"), st.integers(min_value=0, max_value=5)),
        st.tuples(st.just("release_some"), st.integers(min_value=1, max_value=600)),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_random_sequences_keep_the_ledger_balanced(db: Session, ops: list[tuple[str, int]]) -> None:
    nested = db.begin_nested()  # each example starts from nothing and leaves nothing behind
    try:
        member = make_member(db, tickets=0, company="ランダム株式会社")
        reservations: list[Reservation] = []
        bought = consumed = 0
        for op, arg in ops:
            before = check_balanced(db, member.id)
            if op == "buy":
                credit_tickets(db, member.id, arg)
                bought += arg
            elif op == "hold":
                res = make_bare_reservation(db, member.id)
                try:
                    ledger.hold(db, member.id, arg, reservation_id=res.id)
                    reservations.append(res)
                except ledger.InsufficientTickets:
                    assert arg > before.available
            elif op == "send" and reservations:
                res = reservations[arg % len(reservations)]
                if ledger.consume(
                    db, member.id, reservation_id=res.id, item_id=make_sent_item(db, res)
                ):
                    consumed += 1
            elif op in ("release", "release_some") and reservations:
                res = reservations[arg % len(reservations)]
                quantity = None if op == "release" else arg
                outstanding = ledger.reservation_hold_outstanding(db, res.id)
                released = ledger.release(db, member.id, reservation_id=res.id, quantity=quantity)
                assert released == (outstanding if quantity is None else min(quantity, outstanding))
            after = check_balanced(db, member.id)
            assert after.credited == bought and after.consumed == consumed
            assert (
                sum(ledger.reservation_hold_outstanding(db, r.id) for r in reservations)
                == after.held
            )
    finally:
        nested.rollback()


# --- concurrency: two connections race for the same tickets ------------------------------------


def test_concurrent_holds_cannot_overdraw(engine: Engine) -> None:
    """PostgreSQL: the members row lock; SQLite: the single writer lock taken before reading."""
    with Session(engine) as setup:
        member = make_member(setup, tickets=0, company="同時実行株式会社")
        credit_tickets(setup, member.id, 1000)
        res_ids = [make_bare_reservation(setup, member.id, 600).id for _ in range(2)]
        setup.commit()
        member_id = member.id
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(reservation_id: int) -> None:
        with Session(engine) as session:
            barrier.wait()
            try:
                ledger.hold(session, member_id, 600, reservation_id=reservation_id)
                # Keep the lock a moment so the other hold surely waits on it.
                time.sleep(0.2)
                session.commit()
                outcomes.append("held")
            except ledger.InsufficientTickets:
                session.rollback()
                outcomes.append("refused")

    try:
        threads = [threading.Thread(target=attempt, args=(rid,)) for rid in res_ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(outcomes) == ["held", "refused"]
        with Session(engine) as check:
            assert check_balanced(check, member_id) == ledger.Balance(1000, 0, 600, 400)
    finally:
        with Session(engine) as cleanup:
            from sqlalchemy import delete

            cleanup.execute(
                delete(TicketLedgerEntry).where(TicketLedgerEntry.member_id == member_id)
            )
            cleanup.execute(delete(Reservation).where(Reservation.member_id == member_id))
            cleanup.execute(delete(Script).where(Script.member_id == member_id))
            cleanup.execute(delete(TicketOrder).where(TicketOrder.member_id == member_id))
            cleanup.execute(delete(Member).where(Member.id == member_id))
            cleanup.commit()
