"""The one place tests build their data: members, tickets, scripts, prospects, reservations
and items, written straight into the database as the services would have left them.

The ``db`` fixture's ``commit()`` only releases a savepoint, and a request that fails rolls the
session back to the last one: builders that tests use before requests (``give_tickets``,
``make_prospects``, ``MemberEnv``, ``make_operator``, ``force_outcomes``) commit what they set
up; the lower-level ones (``make_member``, ``make_reservation``, ``make_bare_reservation``,
``make_sent_item``) only flush, so a test can use them inside its own transaction.

Outcomes go through the fleet's own ``shared.items`` path (claim → start → submitting →
record_outcome) in the fleet tests, or, where a test needs hundreds of outcomes at once,
through :func:`force_outcomes`, which changes items and counters together, consumes one ticket
per sent item and runs the lifecycle rules — the same things ``record_outcome`` does.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from coordinator.accounts.service import Principal
from shared import clock, ledger, lifecycle
from shared.config import PROJECT_ROOT
from shared.domains import normalize_domain
from shared.enums import ItemState, OrderStatus, PaymentMethod, ReservationStatus, Role
from shared.locks import lock_reservation
from shared.models import (
    Member,
    Prospect,
    Reservation,
    ReservationStatusChange,
    Script,
    SendItem,
    TicketLedgerEntry,
    TicketOrder,
    User,
    prospect_fingerprint,
    prospect_search_text,
)
from shared.rules import order_amount_jpy

# The QA script of the fixture sites (script JSON, docs/rules.md#scripts): what the fleet sends
# in its tests.
QA_SCRIPT: dict[str, Any] = json.loads(
    (PROJECT_ROOT / "fixtures" / "scripts" / "qa.json").read_text(encoding="utf-8")
)

# A member's everyday script, for tests that never send it.
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


# A script with every sender field filled, as a member writes it in the scripts form.
FULL_SCRIPT: dict[str, Any] = {
    "name": "顧客獲得スクリプト",
    "sender": {
        "company": "株式会社サンプル",
        "company_kana": "カブシキガイシャサンプル",
        "department": "営業部",
        "position": "部長",
        "last_name": "山田",
        "first_name": "太郎",
        "last_name_kana": "ヤマダ",
        "first_name_kana": "タロウ",
        "email": "taro@example.co.jp",
        "phone": "03-1234-5678",
        "postal_code": "100-0001",
        "prefecture": "東京都",
        "city": "千代田区",
        "address": "千代田1-1",
        "building": "サンプルビル5F",
        "url": "https://example.co.jp",
    },
    "subject": "業務効率化のご提案",
    "body": "{{company}}\nご担当者様\n\n{{sender_company}}の{{sender_name}}と申します。\n配信停止: {{optout_url}}",
    "inquiry_type_preference": ["その他", "ご提案", "お問い合わせ"],
}


# --- members, users, tickets ------------------------------------------------------------------


def principal_of(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        role=Role(user.role),
        member_id=user.member_id,
        email=user.email,
        name=user.name,
    )


def make_order(
    db: Session,
    member_id: int,
    quantity: int = 1000,
    *,
    status: str = OrderStatus.AWAITING_PAYMENT.value,
    payment_method: str = PaymentMethod.BANK_TRANSFER.value,
    applied_on: date | None = None,
    **fields: Any,
) -> TicketOrder:
    """A ticket order (unpaid bank transfer unless told), due 10 days after ``applied_on``
    (today by default); flushed, not committed, and nothing credited."""
    applied_on = applied_on or clock.now().date()
    order = TicketOrder(
        member_id=member_id,
        company_name="テスト株式会社",
        contact_name="テスト 太郎",
        quantity=quantity,
        amount_jpy=order_amount_jpy(quantity),
        payment_method=payment_method,
        status=status,
        applied_on=applied_on,
        due_on=applied_on + timedelta(days=10),
        **fields,
    )
    db.add(order)
    db.flush()
    return order


def credit_tickets(db: Session, member_id: int, quantity: int) -> TicketOrder:
    """A paid card order credited to the ledger (what a settled card payment leaves behind);
    flushed, not committed."""
    today = clock.now().date()
    order = make_order(
        db,
        member_id,
        quantity,
        status=OrderStatus.ACTIVE.value,
        payment_method=PaymentMethod.CARD.value,
        applied_on=today,
        paid_on=today,
    )
    ledger.credit_purchase(db, member_id, quantity, order.id)
    return order


def give_tickets(db: Session, member_id: int, quantity: int) -> TicketOrder:
    """:func:`credit_tickets`, committed (so a failing request later does not take it back)."""
    order = credit_tickets(db, member_id, quantity)
    db.commit()
    return order


def make_member(db: Session, *, tickets: int = 1000, company: str = "送信テスト株式会社") -> Member:
    """A member company holding ``tickets`` paid tickets (``tickets=0``: none)."""
    member = Member(company_name=company)
    db.add(member)
    db.flush()
    if tickets:
        credit_tickets(db, member.id, tickets)
    return member


def make_bare_user(db: Session, role: Role = Role.MEMBER, *, member: Member | None = None) -> User:
    """A user row with no password (it never logs in) of ``member`` or, for a member without one,
    of a fresh member company: for tests on sessions of their own, which ``make_user`` (bound
    to the test's rolled-back session) does not reach. Use :func:`principal_of` to act as it."""
    tag = uuid.uuid4().hex[:8]
    if member is None and role == Role.MEMBER:
        member = make_member(db, tickets=0, company=f"会員{tag}")
    user = User(
        email=f"{role.value}-{tag}@example.test",
        password_hash="-",
        role=role.value,
        member_id=member.id if member is not None else None,
        name="会員" if role == Role.MEMBER else "運営",
    )
    db.add(user)
    db.flush()
    return user


def make_operator(db: Session, make_user: Any) -> tuple[User, dict[str, str]]:
    user, headers = make_user("operator", company=None)
    db.commit()
    return user, headers


# Cards of the test gateway (coordinator/tickets/gateway.py).
GOOD_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
BAD_LUHN = "4242 4242 4242 4241"


def order_body(
    quantity: object = 2000, method: str = "card", card: str | None = GOOD_CARD
) -> dict[str, object]:
    body: dict[str, object] = {
        "quantity": quantity,
        "company_name": "TEST株式会社",
        "contact_name": "テスト 太郎",
        "payment_method": method,
    }
    if card is not None:
        body["card_number"] = card
    return body


# --- scripts and prospects --------------------------------------------------------------------


def make_script(db: Session, member_id: int, content: dict[str, Any] | None = None) -> Script:
    content = dict(content if content is not None else SCRIPT_CONTENT)
    script = Script(
        member_id=member_id, name=content.get("name", "テストスクリプト"), content=content
    )
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
                # Set here: a column default that reads the row's values cannot run in a
                # multi-row INSERT.
                "fingerprint": prospect_fingerprint(domain, company, "東京都", "", "", ""),
            }
        )
    # One multi-row statement per chunk, not a statement per row: PostgreSQL's keyword index is
    # kept by statement triggers (docs/architecture.md#the-keyword-index), and a trigger run per
    # row rewrites the same posting blocks hundreds of times in one transaction.
    for start in range(0, len(rows), 1_000):
        db.execute(insert(Prospect).values(rows[start : start + 1_000]))
    db.commit()  # a failed request rolls back to the last commit, never past the setup
    return industry


def list_url(industry: str, *, has_url: bool = True) -> str:
    params: list[tuple[str, str]] = [("industry", industry)]
    if has_url:
        params.append(("has_url", "1"))
    return "/prospects?" + urlencode(params)


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

    def reserve(
        self,
        db: Session,
        count: int = 300,
        *,
        senders: int = 1,
        fresh_list: int = 0,
        approved_by: Principal | None = None,
    ) -> Reservation:
        """A reservation through the reservation service, of this member's list (or of a new
        list of ``fresh_list`` prospects), approved by ``approved_by`` when given; flushed."""
        from coordinator.reservations import service

        url = list_url(make_prospects(db, fresh_list)) if fresh_list else self.list_url
        reservation = service.create(
            db, self.principal, count=count, senders=senders, list_url=url, script_id=self.script.id
        )
        if approved_by is not None:
            service.approve(db, approved_by, reservation.id)
        db.flush()
        return reservation

    def body(self, count: int, senders: int = 1, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "count": count,
            "senders": senders,
            "list_url": self.list_url,
            "script_id": self.script.id,
        }
        body.update(overrides)
        return body


# --- reservations and items -------------------------------------------------------------------


def make_bare_reservation(
    db: Session,
    member_id: int,
    count: int = 300,
    *,
    status: str = ReservationStatus.PENDING.value,
) -> Reservation:
    """A reservation (pending unless told) with no hold and no items, for tests that move the
    ledger or add the items themselves."""
    script = make_script(db, member_id, {"name": "台帳スクリプト"})
    reservation = Reservation(
        member_id=member_id,
        script_id=script.id,
        list_query="has_url=1",
        count=count,
        senders=1,
        status=status,
    )
    db.add(reservation)
    db.flush()
    return reservation


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
    """A reservation (approved unless told) of the QA script holding ``count`` tickets, with one
    queued item per ``(company, url)`` (or ``items`` made-up prospects on unique
    ``*.example.test`` domains) — the rows the reservation service would have written."""
    if member is None:
        member = make_member(db, tickets=tickets if tickets is not None else max(count, 1000))
    script = make_script(db, member.id, QA_SCRIPT)
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


def make_sent_item(db: Session, reservation: Reservation) -> int:
    """One item of the reservation already in state ``sent`` (counters untouched), for a
    ``ledger.consume`` to point at; returns its id."""
    n = db.scalar(select(func.count()).select_from(SendItem)) or 0
    prospect = Prospect(
        company=f"送信先{n}",
        url=f"https://p{n}-{reservation.id}.example.jp",
        domain=f"p{n}-{reservation.id}.example.jp",
    )
    db.add(prospect)
    db.flush()
    item = SendItem(
        reservation_id=reservation.id,
        member_id=reservation.member_id,
        prospect_id=prospect.id,
        domain=prospect.domain or "",
        url=prospect.url,
        company=prospect.company,
        state=ItemState.SENT.value,
        optout_token=f"tok-{reservation.id}-{prospect.id}",
    )
    db.add(item)
    db.flush()
    return item.id


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


# --- checks over what was built ---------------------------------------------------------------


def items_by_state(db: Session, reservation_id: int) -> dict[str, int]:
    rows = db.execute(
        select(SendItem.state, func.count())
        .where(SendItem.reservation_id == reservation_id)
        .group_by(SendItem.state)
    ).all()
    return {str(state): int(n) for state, n in rows}


def assert_counters_add_up(db: Session, reservation: Reservation | int) -> dict[str, int]:
    """The reservation's counters equal the item states they count
    (docs/architecture.md#the-item-state-machine); returns the item states."""
    reservation_id = reservation if isinstance(reservation, int) else reservation.id
    db.flush()
    current = db.execute(
        select(Reservation)
        .where(Reservation.id == reservation_id)
        .execution_options(populate_existing=True)
    ).scalar_one()
    states = items_by_state(db, reservation_id)
    expected = {
        "queued": states.get(ItemState.QUEUED.value, 0),
        "in_flight": sum(
            states.get(s.value, 0)
            for s in (ItemState.DISPATCHED, ItemState.RUNNING, ItemState.SUBMITTING)
        ),
        "sent": states.get(ItemState.SENT.value, 0),
        "failed": states.get(ItemState.FAILED.value, 0),
        "skipped": states.get(ItemState.SKIPPED.value, 0),
        "in_doubt": states.get(ItemState.IN_DOUBT.value, 0),
    }
    actual = {name: getattr(current, name) for name in expected}
    assert actual == expected, (actual, expected)
    return states


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
