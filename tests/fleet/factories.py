"""Building reservations with queued items straight in the database, for the fleet's tests.

The fleet only needs the rows the reservation service would have written (an approved
reservation holding its tickets, one queued item per prospect); building them directly keeps
these tests about claiming, leases and outcomes.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared import clock, ledger
from shared.config import PROJECT_ROOT
from shared.enums import ItemState, OrderStatus, ReservationStatus
from shared.models import (
    Member,
    Prospect,
    Reservation,
    ReservationStatusChange,
    Script,
    SendItem,
    TicketOrder,
)

# The QA script of the fixture sites (script JSON, docs/rules.md#scripts): what the fleet sends
# in its tests.
SCRIPT: dict[str, Any] = json.loads(
    (PROJECT_ROOT / "fixtures" / "scripts" / "qa.json").read_text(encoding="utf-8")
)


def make_member(db: Session, *, tickets: int = 1000, company: str = "送信テスト株式会社") -> Member:
    member = Member(company_name=company)
    db.add(member)
    db.flush()
    if tickets:
        today = clock.now().date()
        order = TicketOrder(
            member_id=member.id,
            company_name=company,
            contact_name="テスト 太郎",
            quantity=tickets,
            amount_jpy=tickets * 22,
            payment_method="card",
            status=OrderStatus.ACTIVE.value,
            applied_on=today,
            due_on=today + timedelta(days=10),
            paid_on=today,
        )
        db.add(order)
        db.flush()
        ledger.credit_purchase(db, member.id, tickets, order.id)
    return member


def make_reservation(
    db: Session,
    *,
    member: Member | None = None,
    urls: Sequence[tuple[str, str]] | None = None,
    items: int = 10,
    count: int = 300,
    senders: int = 2,
    status: str = ReservationStatus.APPROVED.value,
    tickets: int | None = None,
) -> Reservation:
    """An approved reservation holding ``count`` tickets with one queued item per
    ``(company, url)`` (or ``items`` made-up prospects on unique ``*.example.test`` domains)."""
    from shared.domains import normalize_domain

    if member is None:
        member = make_member(db, tickets=tickets if tickets is not None else max(count, 1000))
    script = Script(member_id=member.id, name=SCRIPT["name"], content=SCRIPT)
    db.add(script)
    db.flush()
    now = clock.now()
    reservation = Reservation(
        member_id=member.id,
        script_id=script.id,
        list_query="has_url=1",
        count=count,
        senders=senders,
        status=status,
        approved_at=now if status != "pending" else None,
    )
    db.add(reservation)
    db.flush()
    db.add(
        ReservationStatusChange(
            reservation_id=reservation.id, from_status=None, to_status=status, reason="test", at=now
        )
    )
    ledger.hold(db, member.id, count, reservation_id=reservation.id)
    if urls is None:
        tag = uuid.uuid4().hex[:8]
        urls = [(f"テスト商事{i}", f"http://t{i}-{tag}.example.test/") for i in range(items)]
    for company, url in urls:
        domain = normalize_domain(url)
        assert domain
        prospect = db.scalar(select(Prospect).where(Prospect.domain == domain))
        if prospect is None:
            prospect = Prospect(company=company, url=url, domain=domain)
            db.add(prospect)
            db.flush()
        db.add(
            SendItem(
                reservation_id=reservation.id,
                member_id=member.id,
                prospect_id=prospect.id,
                domain=domain,
                url=url,
                company=company,
                state=ItemState.QUEUED.value,
                optout_token=secrets.token_urlsafe(24),
            )
        )
    reservation.queued = len(urls)
    db.flush()
    return reservation


def state_counts(db: Session, reservation_id: int) -> dict[str, int]:
    rows = db.execute(
        select(SendItem.state, func.count())
        .where(SendItem.reservation_id == reservation_id)
        .group_by(SendItem.state)
    ).all()
    return {state: int(n) for state, n in rows}


def assert_counters_add_up(db: Session, reservation_id: int) -> dict[str, int]:
    """The reservation's counters equal the item states they count
    (docs/architecture.md#the-item-state-machine)."""
    reservation = db.execute(
        select(Reservation)
        .where(Reservation.id == reservation_id)
        .execution_options(populate_existing=True)
    ).scalar_one()
    states = state_counts(db, reservation_id)
    expected = {
        "queued": states.get("queued", 0),
        "in_flight": sum(states.get(s, 0) for s in ("dispatched", "running", "submitting")),
        "sent": states.get("sent", 0),
        "failed": states.get("failed", 0),
        "skipped": states.get("skipped", 0),
        "in_doubt": states.get("in_doubt", 0),
    }
    actual = {name: getattr(reservation, name) for name in expected}
    assert actual == expected, (actual, expected)
    return states
