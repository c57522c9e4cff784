"""The append-only ticket ledger (docs/rules.md#ticket-ledger): the only place a member's ticket balance lives.

Every row is positive; its kind gives the sign:

* ``purchase`` credits tickets when an order is paid;
* ``hold`` reserves tickets for a reservation or an approved addition;
* ``consume`` takes one ticket out of its reservation's hold per *sent* item;
* ``release`` returns an unsent hold (cancel, auto-cancel, completion);
* ``withdraw`` takes back the unused tickets of a refunded order.

``available = credited − consumed − held`` with ``credited = Σpurchase − Σwithdraw`` and
``held = Σhold − Σrelease − Σconsume``, which
simplifies to ``credited − Σhold + Σrelease``: a consume moves a ticket from held to consumed
and leaves ``available`` alone. Nothing else stores a balance, so nothing can drift from it.

Functions here never commit; they run inside the caller's transaction. :func:`hold` locks the
member first so that two concurrent holds cannot both see the same ``available``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from shared.enums import LedgerKind
from shared.locks import lock_member
from shared.models import TicketLedgerEntry

__all__ = [
    "Balance",
    "InsufficientTickets",
    "balance",
    "consume",
    "credit_purchase",
    "hold",
    "release",
    "reservation_hold_outstanding",
    "withdraw",
]


@dataclass(frozen=True)
class Balance:
    credited: int
    consumed: int
    held: int
    available: int


class InsufficientTickets(Exception):  # noqa: N818 — the name of the rule, not of a failure
    """A hold asked for more tickets than the member has available."""

    def __init__(self, available: int, requested: int) -> None:
        super().__init__(f"available {available} < requested {requested}")
        self.available = available
        self.requested = requested


def _signed_sums(db: Session, *where: object) -> dict[str, int]:
    rows = db.execute(
        select(TicketLedgerEntry.kind, func.coalesce(func.sum(TicketLedgerEntry.quantity), 0))
        .where(*where)  # type: ignore[arg-type]
        .group_by(TicketLedgerEntry.kind)
    ).all()
    sums = {kind.value: 0 for kind in LedgerKind}
    for kind, total in rows:
        sums[str(kind)] = int(total)
    return sums


def balance(db: Session, member_id: int) -> Balance:
    """The member's balance, computed from the ledger rows only."""
    s = _signed_sums(db, TicketLedgerEntry.member_id == member_id)
    credited = s[LedgerKind.PURCHASE] - s[LedgerKind.WITHDRAW]
    consumed = s[LedgerKind.CONSUME]
    held = s[LedgerKind.HOLD] - s[LedgerKind.RELEASE] - s[LedgerKind.CONSUME]
    return Balance(
        credited=credited, consumed=consumed, held=held, available=credited - consumed - held
    )


def reservation_hold_outstanding(db: Session, reservation_id: int) -> int:
    """Tickets still held for a reservation (Σhold − Σrelease − Σconsume of its rows)."""
    signed = case(
        (TicketLedgerEntry.kind == LedgerKind.HOLD.value, TicketLedgerEntry.quantity),
        else_=-TicketLedgerEntry.quantity,
    )
    total = db.scalar(
        select(func.coalesce(func.sum(signed), 0)).where(
            TicketLedgerEntry.reservation_id == reservation_id,
            TicketLedgerEntry.kind.in_(
                [LedgerKind.HOLD.value, LedgerKind.RELEASE.value, LedgerKind.CONSUME.value]
            ),
        )
    )
    return int(total or 0)


def _add(
    db: Session, member_id: int, kind: LedgerKind, quantity: int, **refs: object
) -> TicketLedgerEntry:
    entry = TicketLedgerEntry(member_id=member_id, kind=kind.value, quantity=quantity, **refs)
    db.add(entry)
    db.flush()
    return entry


def _first_entry(
    db: Session, kind: LedgerKind, ref: ColumnElement[bool]
) -> TicketLedgerEntry | None:
    return db.scalar(
        select(TicketLedgerEntry)
        .where(ref, TicketLedgerEntry.kind == kind.value)
        .order_by(TicketLedgerEntry.id)
        .limit(1)
    )


def credit_purchase(db: Session, member_id: int, quantity: int, order_id: int) -> TicketLedgerEntry:
    """Credit a paid order's tickets. Idempotent per order: a second call returns the first row."""
    if quantity <= 0:
        raise ValueError("a purchase credits a positive quantity")
    lock_member(db, member_id)
    existing = _first_entry(db, LedgerKind.PURCHASE, TicketLedgerEntry.order_id == order_id)
    if existing is not None:
        return existing
    return _add(db, member_id, LedgerKind.PURCHASE, quantity, order_id=order_id)


def hold(
    db: Session,
    member_id: int,
    quantity: int,
    *,
    reservation_id: int,
    addition_id: int | None = None,
) -> TicketLedgerEntry:
    """Reserve ``quantity`` tickets for a reservation (or one of its approved additions).

    Raises :class:`InsufficientTickets` when fewer are available; the member row is locked
    first, so concurrent holds are serialized and cannot overdraw.
    """
    if quantity <= 0:
        raise ValueError("a hold reserves a positive quantity")
    lock_member(db, member_id)
    available = balance(db, member_id).available
    if available < quantity:
        raise InsufficientTickets(available, quantity)
    return _add(
        db,
        member_id,
        LedgerKind.HOLD,
        quantity,
        reservation_id=reservation_id,
        addition_id=addition_id,
    )


def consume(
    db: Session, member_id: int, *, reservation_id: int, item_id: int
) -> TicketLedgerEntry | None:
    """One ticket for one *sent* item, taken out of its reservation's hold.

    Idempotent per item. If the reservation's hold is already used up (items that were in
    flight when the reservation completed or was cancelled and its hold released), one more
    ticket is held from ``available`` first; if none is available the send is not charged and
    ``None`` is returned, because the balance must never go negative.
    """
    lock_member(db, member_id)
    existing = _first_entry(db, LedgerKind.CONSUME, TicketLedgerEntry.item_id == item_id)
    if existing is not None:
        return existing
    if reservation_hold_outstanding(db, reservation_id) < 1:
        if balance(db, member_id).available < 1:
            return None
        _add(
            db,
            member_id,
            LedgerKind.HOLD,
            1,
            reservation_id=reservation_id,
            item_id=item_id,
            note="overrun",
        )
    return _add(
        db, member_id, LedgerKind.CONSUME, 1, reservation_id=reservation_id, item_id=item_id
    )


def release(
    db: Session, member_id: int, *, reservation_id: int, quantity: int | None = None
) -> int:
    """Return up to ``quantity`` (default: all) of a reservation's outstanding hold.

    Never releases more than is still held; returns how many tickets were released.
    """
    lock_member(db, member_id)
    outstanding = reservation_hold_outstanding(db, reservation_id)
    amount = outstanding if quantity is None else min(quantity, outstanding)
    if amount <= 0:
        return 0
    _add(db, member_id, LedgerKind.RELEASE, amount, reservation_id=reservation_id)
    return amount


def withdraw(db: Session, member_id: int, quantity: int, order_id: int) -> int:
    """Take back up to ``quantity`` tickets of a refunded order, never more than are available
    (tickets held by a reservation or consumed stay where they are); once per order. Returns
    how many were withdrawn."""
    lock_member(db, member_id)
    if _first_entry(db, LedgerKind.WITHDRAW, TicketLedgerEntry.order_id == order_id) is not None:
        return 0
    amount = min(quantity, balance(db, member_id).available)
    if amount <= 0:
        return 0
    _add(db, member_id, LedgerKind.WITHDRAW, amount, order_id=order_id, note="refund")
    return amount
