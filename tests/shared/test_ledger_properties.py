"""Property-based: random sequences of purchases, payments, reservations, sends, pauses,
cancels and additions; after every step the ledger balances and nothing goes negative.

Each example gets a member of its own (the ledger is per member), so examples do not need a
rollback between them; the test's outer transaction drops them all at the end. Service calls
run in a savepoint that is rolled back when they refuse (as a failed request is), and sends go
through the fleet's own path (claim → start → submitting → record_outcome), plus a bulk path
(:func:`force_outcomes`) so that completion is reachable in a few steps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.errors import AppError
from coordinator.reservations import service
from coordinator.tickets import service as tickets
from coordinator.tickets.gateway import TestGateway
from shared import clock, items, ledger, lifecycle
from shared.enums import (
    RESERVATION_FINAL,
    AdditionStatus,
    PaymentMethod,
    ReservationStatus,
    Role,
)
from shared.models import Reservation, ReservationAddition, TicketOrder
from tests.builders import (
    GOOD_CARD,
    force_outcomes,
    items_by_state,
    list_url,
    make_bare_user,
    make_prospects,
    make_script,
    principal_of,
    raw_balance,
)

OUTCOMES = [
    ("sent", None),
    ("failed", "no_form"),
    ("skipped", "captcha"),
    ("in_doubt", "unconfirmed"),
]

idx = st.integers(min_value=0, max_value=5)
SENDS = st.one_of(
    st.tuples(st.just("send"), idx, st.sampled_from(OUTCOMES)),
    st.tuples(
        st.just("bulk"),
        idx,
        st.sampled_from([25, 150, 10_000]),
        st.sampled_from(["sent", "failed"]),
    ),
)
STEPS = st.one_of(
    SENDS,
    SENDS,
    SENDS,
    st.tuples(st.just("buy_card"), st.integers(1, 2)),
    st.tuples(st.just("order_bank"), st.integers(1, 2)),
    st.tuples(st.just("confirm_bank"), idx),
    st.tuples(st.just("reserve"), st.sampled_from([300, 400, 500, 1_200])),
    st.tuples(st.just("approve"), idx),
    st.tuples(st.just("send"), idx, st.sampled_from(OUTCOMES)),
    st.tuples(
        st.just("bulk"),
        idx,
        st.sampled_from([25, 150, 10_000]),
        st.sampled_from(["sent", "failed"]),
    ),
    st.tuples(st.just("pause"), idx, st.booleans()),
    st.tuples(st.just("resume"), idx),
    st.tuples(st.just("cancel"), idx),
    st.tuples(st.just("transfer"), idx, st.integers(1, 40)),
    st.tuples(st.just("add"), idx, st.sampled_from([100, 200, 1_000])),
    st.tuples(st.just("approve_addition"), idx),
    st.tuples(st.just("resolve"), idx, st.sampled_from(["sent", "failed"])),
    st.tuples(st.just("sweep_stale_pauses")),
)


class World:
    """One member, one operator, and what the steps have created so far."""

    def __init__(self, db: Session) -> None:
        self.db = db
        user = make_bare_user(db)
        self.member_id: int = user.member_id
        self.member = principal_of(user)
        self.operator = principal_of(make_bare_user(db, Role.OPERATOR))
        self.script = make_script(db, self.member_id)
        self.reservations: list[int] = []
        self.bank_orders: list[int] = []
        self.in_doubt: list[int] = []

    def pick(self, ids: list[int], i: int) -> int | None:
        return ids[i % len(ids)] if ids else None

    def attempt(self, fn: Callable[[], Any]) -> Any:
        """A service call as one request: its writes roll back if it refuses."""
        savepoint = self.db.begin_nested()
        try:
            result = fn()
        except AppError:
            savepoint.rollback()
            return None
        savepoint.commit()
        return result


def _send_one(w: World, rid: int, outcome: tuple[str, str | None]) -> None:
    claimed = items.claim(w.db, rid, 1)
    if not claimed:
        return
    item_id, token = claimed[0]
    w.db.commit()
    if items.start(w.db, item_id, token, "prop-worker") is None:
        return
    status, reason = outcome
    if status in ("sent", "in_doubt") and not items.enter_submitting(w.db, item_id, token):
        return
    items.record_outcome(w.db, item_id, token, items.Outcome(status=status, reason=reason))
    if status == "in_doubt":
        w.in_doubt.append(item_id)
    w.db.commit()


def _place_order(w: World, quantity: int, method: PaymentMethod, card_number: str | None) -> Any:
    """An order through the tickets service, as one request (None if refused)."""
    return w.attempt(
        lambda: tickets.place_order(
            w.db,
            w.member,
            quantity=quantity,
            company_name="性質テスト",
            contact_name="担当",
            payment_method=method,
            card_number=card_number,
            gateway=TestGateway(),
        )
    )


def _apply(w: World, step: tuple[Any, ...]) -> None:
    db = w.db
    kind = step[0]
    rid = w.pick(w.reservations, step[1]) if len(step) > 1 and isinstance(step[1], int) else None

    if kind == "buy_card":
        _place_order(w, step[1] * 1_000, PaymentMethod.CARD, GOOD_CARD)
    elif kind == "order_bank":
        order = _place_order(w, step[1] * 1_000, PaymentMethod.BANK_TRANSFER, None)
        if order is not None:
            w.bank_orders.append(order.id)
    elif kind == "confirm_bank":
        order_id = w.pick(w.bank_orders, step[1])
        if order_id is not None:
            w.attempt(lambda: tickets.confirm_payment(db, order_id, operator=w.operator))
    elif kind == "reserve":
        count = step[1]
        industry = make_prospects(db, 2 * count)
        r = w.attempt(
            lambda: service.create(
                db,
                w.member,
                count=count,
                senders=1,
                list_url=list_url(industry),
                script_id=w.script.id,
            )
        )
        if r is not None:
            w.reservations.append(r.id)
    elif rid is None:
        return
    elif kind == "approve":
        w.attempt(lambda: service.approve(db, w.operator, rid))
    elif kind == "send":
        _send_one(w, rid, step[2])
    elif kind == "bulk":
        r = db.get(Reservation, rid)
        assert r is not None
        if r.status == ReservationStatus.APPROVED:
            n = step[2]
            if step[3] == "sent":  # the dispatcher never lets sent pass count
                n = min(n, max(0, r.count - r.sent - r.in_flight - r.in_doubt))
            force_outcomes(db, rid, n, step[3])
    elif kind == "pause":
        w.attempt(lambda: service.pause(db, w.member, rid, remove_list=step[2]))
    elif kind == "resume":
        w.attempt(lambda: service.resume(db, w.member, rid))
    elif kind == "cancel":
        w.attempt(lambda: service.cancel(db, w.member, rid))
    elif kind == "transfer":
        industry = make_prospects(db, step[2])
        w.attempt(
            lambda: service.transfer(
                db,
                w.member,
                rid,
                list_url=list_url(industry),
                count=step[2],
                script_id=w.script.id,
            )
        )
    elif kind == "add":
        w.attempt(lambda: service.request_addition(db, w.member, rid, step[2]))
    elif kind == "approve_addition":
        pending = db.scalars(
            select(ReservationAddition.id).where(
                ReservationAddition.reservation_id == rid,
                ReservationAddition.status == AdditionStatus.PENDING.value,
            )
        ).first()
        if pending is not None:
            w.attempt(lambda: service.approve_addition(db, w.operator, pending))
    elif kind == "resolve":
        item_id = w.pick(w.in_doubt, step[1])
        if item_id is not None:
            w.in_doubt.remove(item_id)
            items.resolve_in_doubt(db, item_id, step[2], resolved_by=w.operator.user_id)
    db.commit()


def _sweep(w: World) -> None:
    lifecycle.auto_cancel_stale_pauses(w.db, clock.now() + timedelta(hours=12, seconds=1))
    w.db.commit()


def _check(w: World) -> None:
    db = w.db
    db.flush()
    bal = ledger.balance(db, w.member_id)
    raw = raw_balance(db, w.member_id)
    assert (bal.credited, bal.consumed, bal.held, bal.available) == (
        raw["credited"],
        raw["consumed"],
        raw["held"],
        raw["available"],
    )
    assert bal.available == bal.credited - bal.consumed - bal.held
    assert min(bal.credited, bal.consumed, bal.held, bal.available) >= 0
    paid = db.scalars(
        select(TicketOrder.quantity).where(
            TicketOrder.member_id == w.member_id, TicketOrder.paid_on.is_not(None)
        )
    ).all()
    assert bal.credited == sum(paid)
    sent_total = 0
    for rid in w.reservations:
        r = db.get(Reservation, rid, populate_existing=True)
        assert r is not None
        by = items_by_state(db, rid)
        in_flight = sum(by.get(s, 0) for s in ("dispatched", "running", "submitting"))
        assert (r.queued, r.in_flight, r.sent, r.failed, r.skipped, r.in_doubt) == (
            by.get("queued", 0),
            in_flight,
            by.get("sent", 0),
            by.get("failed", 0),
            by.get("skipped", 0),
            by.get("in_doubt", 0),
        )
        outstanding = ledger.reservation_hold_outstanding(db, rid)
        assert outstanding >= 0
        if r.status in RESERVATION_FINAL:
            assert r.queued == 0
            assert outstanding <= r.in_flight + r.in_doubt
        else:
            assert outstanding == r.count - r.sent
        if r.status == ReservationStatus.COMPLETED:
            assert r.sent == r.count
        sent_total += r.sent
    assert bal.consumed == sent_total  # only successful sends consume


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(steps=st.lists(STEPS, min_size=3, max_size=12))
def test_ledger_balances_after_every_step(db: Session, steps: list[tuple[Any, ...]]) -> None:
    w = World(db)
    # Every example starts with an approved reservation, so most reach the interesting states.
    for step in (("buy_card", 1), ("reserve", 300), ("approve", 0)):
        _apply(w, step)
    for step in steps:
        if step[0] == "sweep_stale_pauses":
            _sweep(w)
        else:
            _apply(w, step)
        event(f"step {step[0]}")
        _check(w)
    for rid in w.reservations:
        r = db.get(Reservation, rid)
        assert r is not None
        event(f"reservation ended {r.status}")
        if r.sent:
            event("a reservation sent something")
