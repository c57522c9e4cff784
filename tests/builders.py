"""Builders shared by the reservation, lifecycle, chat, sweeper and ledger-property tests.

The ``db`` fixture's ``commit()`` only releases a savepoint, and a request that fails rolls the
session back to the last one: so the builders commit what they set up.

Real rows through the real services; outcomes through the fleet's own ``shared.items`` path
(claim → start → submitting → record_outcome) or, where a test needs hundreds of outcomes at
once, :func:`force_outcomes`, which changes items and counters together, consumes one ticket
per sent item and runs the lifecycle rules — the same things ``record_outcome`` does.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from coordinator.accounts.service import Principal
from shared import ledger, lifecycle
from shared.enums import ItemState, OrderStatus, PaymentMethod, Role
from shared.locks import lock_reservation
from shared.models import (
    Prospect,
    Reservation,
    Script,
    SendItem,
    TicketLedgerEntry,
    TicketOrder,
    User,
    prospect_search_text,
)
from shared.rules import order_amount_jpy

SCRIPT_CONTENT: dict[str, Any] = {
    "name": "顧客獲得スクリプト",
    "sender": {
        "company": "株式会社サンプル",
        "last_name": "山田",
        "first_name": "太郎",
        "email": "taro@example.co.jp",
        "phone": "03-1234-5678",
    },
    "subject": "業務効率化のご提案",
    "body": "{{company}}\nご担当者様\n\n配信停止: {{optout_url}}",
}


def principal_of(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        role=Role(user.role),
        member_id=user.member_id,
        email=user.email,
        name=user.name,
    )


def give_tickets(db: Session, member_id: int, quantity: int) -> TicketOrder:
    """A paid order credited to the ledger (what a settled card payment leaves behind)."""
    order = TicketOrder(
        member_id=member_id,
        company_name="テスト株式会社",
        contact_name="テスト担当",
        quantity=quantity,
        amount_jpy=order_amount_jpy(quantity),
        payment_method=PaymentMethod.CARD.value,
        status=OrderStatus.ACTIVE.value,
        applied_on=date(2026, 1, 1),
        due_on=date(2026, 1, 11),
        paid_on=date(2026, 1, 1),
    )
    db.add(order)
    db.flush()
    ledger.credit_purchase(db, member_id, quantity, order.id)
    db.commit()
    return order


def make_script(db: Session, member_id: int) -> Script:
    script = Script(member_id=member_id, name="顧客獲得スクリプト", content=dict(SCRIPT_CONTENT))
    db.add(script)
    db.flush()
    return script


def make_prospects(
    db: Session, n: int, *, industry: str | None = None, with_url: bool = True
) -> str:
    """Insert ``n`` prospects of a fresh industry; returns that industry (the test's list)."""
    industry = industry or f"業種{uuid.uuid4().hex[:10]}"
    tag = uuid.uuid4().hex[:8]
    rows = []
    for i in range(n):
        company = f"株式会社テスト{tag}{i}"
        domain = f"p{i}-{tag}.example.jp" if with_url else None
        rows.append(
            {
                "company": company,
                "url": f"https://{domain}/" if domain else "",
                "domain": domain,
                "industry": industry,
                "prefecture": "東京都",
                "search_text": prospect_search_text(company, "", industry, ""),
            }
        )
    if rows:
        db.execute(insert(Prospect), rows)
    db.commit()  # a failed request rolls back to the last commit, never past the setup
    return industry


def list_url(industry: str, *, has_url: bool = True) -> str:
    params: list[tuple[str, str]] = [("industry", industry)]
    if has_url:
        params.append(("has_url", "1"))
    return "/prospects?" + urlencode(params)


def items_by_state(db: Session, reservation_id: int) -> dict[str, int]:
    rows = db.execute(
        select(SendItem.state, func.count())
        .where(SendItem.reservation_id == reservation_id)
        .group_by(SendItem.state)
    ).all()
    return {str(state): int(n) for state, n in rows}


def assert_counters_match_items(db: Session, reservation: Reservation) -> None:
    db.flush()
    db.refresh(reservation)
    by = items_by_state(db, reservation.id)
    in_flight = sum(by.get(s.value, 0) for s in (ItemState.DISPATCHED, ItemState.RUNNING))
    in_flight += by.get(ItemState.SUBMITTING.value, 0)
    assert reservation.queued == by.get(ItemState.QUEUED.value, 0)
    assert reservation.in_flight == in_flight
    assert reservation.sent == by.get(ItemState.SENT.value, 0)
    assert reservation.failed == by.get(ItemState.FAILED.value, 0)
    assert reservation.skipped == by.get(ItemState.SKIPPED.value, 0)
    assert reservation.in_doubt == by.get(ItemState.IN_DOUBT.value, 0)


def raw_balance(db: Session, member_id: int) -> dict[str, int]:
    """The balance recomputed from the raw ledger rows, independently of shared.ledger."""
    sums = {"purchase": 0, "hold": 0, "consume": 0, "release": 0}
    for kind, quantity in db.execute(
        select(TicketLedgerEntry.kind, TicketLedgerEntry.quantity).where(
            TicketLedgerEntry.member_id == member_id
        )
    ):
        sums[str(kind)] += int(quantity)
    held = sums["hold"] - sums["release"] - sums["consume"]
    return {
        "credited": sums["purchase"],
        "consumed": sums["consume"],
        "held": held,
        "available": sums["purchase"] - sums["consume"] - held,
    }


_COUNTER = {
    ItemState.SENT.value: "sent",
    ItemState.FAILED.value: "failed",
    ItemState.SKIPPED.value: "skipped",
    ItemState.IN_DOUBT.value: "in_doubt",
}
_DEFAULT_REASON = {
    ItemState.SENT.value: None,
    ItemState.FAILED.value: "no_form",
    ItemState.SKIPPED.value: "captcha",
    ItemState.IN_DOUBT.value: "unconfirmed",
}


def force_outcomes(db: Session, reservation_id: int, n: int, state: str) -> int:
    """Finish ``n`` queued items of a reservation as ``state`` in one go (see the module doc)."""
    reservation = lock_reservation(db, reservation_id)
    ids = list(
        db.scalars(
            select(SendItem.id)
            .where(
                SendItem.reservation_id == reservation_id,
                SendItem.state == ItemState.QUEUED.value,
            )
            .order_by(SendItem.id)
            .limit(n)
        )
    )
    for item_id in ids:
        item = db.get(SendItem, item_id)
        assert item is not None
        item.state = state
        item.reason = _DEFAULT_REASON[state]
        reservation.queued -= 1
        counter = _COUNTER[state]
        setattr(reservation, counter, getattr(reservation, counter) + 1)
        if state == ItemState.SENT.value:
            db.flush()
            ledger.consume(
                db, reservation.member_id, reservation_id=reservation_id, item_id=item_id
            )
    db.flush()
    lifecycle.after_item_change(db, reservation)
    db.commit()
    return len(ids)


class MemberEnv:
    """A member with a user, its bearer headers, tickets, a script and a list of prospects."""

    def __init__(self, db: Session, make_user: Any, *, tickets: int, prospects: int) -> None:
        self.user, self.headers = make_user("member", company="予約テスト株式会社")
        self.principal = principal_of(self.user)
        self.member_id: int = self.user.member_id
        if tickets:
            give_tickets(db, self.member_id, tickets)
        self.script = make_script(db, self.member_id)
        self.industry = make_prospects(db, prospects)
        self.list_url = list_url(self.industry)
        db.commit()

    def body(self, count: int, senders: int = 1, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "count": count,
            "senders": senders,
            "list_url": self.list_url,
            "script_id": self.script.id,
        }
        body.update(overrides)
        return body


def make_operator(db: Session, make_user: Any) -> tuple[User, dict[str, str]]:
    user, headers = make_user("operator", company=None)
    db.commit()
    return user, headers
