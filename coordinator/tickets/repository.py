"""Queries of ticket orders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from shared.enums import LedgerKind, OrderStatus
from shared.models import TicketLedgerEntry, TicketOrder


def orders(db: Session, member_id: int | None) -> Sequence[TicketOrder]:
    query = select(TicketOrder).order_by(TicketOrder.id.desc())
    if member_id is not None:
        query = query.where(TicketOrder.member_id == member_id)
    return db.scalars(query).all()


def orders_page(
    db: Session, *, search: str, status: str, offset: int, limit: int
) -> tuple[int, Sequence[TicketOrder]]:
    """Every member's orders, newest first: ``search`` is an order No (digits alone) or part
    of the company's or the person's name; ``status`` one status (or "")."""
    where = []
    if search.isdigit():
        where.append(TicketOrder.id == int(search[:9]))
    elif search:
        where.append(
            or_(
                TicketOrder.company_name.contains(search, autoescape=True),
                TicketOrder.contact_name.contains(search, autoescape=True),
            )
        )
    if status:
        where.append(TicketOrder.status == status)
    total = int(db.scalar(select(func.count()).select_from(TicketOrder).where(*where)) or 0)
    query = select(TicketOrder).where(*where).order_by(TicketOrder.id.desc())
    return total, db.scalars(query.offset(offset).limit(limit)).all()


def count_with_status(db: Session, status: str, payment_method: str | None = None) -> int:
    query = select(func.count()).select_from(TicketOrder).where(TicketOrder.status == status)
    if payment_method is not None:
        query = query.where(TicketOrder.payment_method == payment_method)
    return int(db.scalar(query) or 0)


def paid_orders_fifo(db: Session, member_id: int) -> Sequence[tuple[TicketOrder, int]]:
    """(order, credited quantity) of the member's paid orders, in the order they were credited;
    a refunded order's credit is less the tickets withdrawn from it."""
    withdrawn = dict(
        db.execute(
            select(TicketLedgerEntry.order_id, TicketLedgerEntry.quantity).where(
                TicketLedgerEntry.member_id == member_id,
                TicketLedgerEntry.kind == LedgerKind.WITHDRAW.value,
            )
        ).all()
    )
    rows = db.execute(
        select(TicketOrder, TicketLedgerEntry.quantity)
        .join(TicketLedgerEntry, TicketLedgerEntry.order_id == TicketOrder.id)
        .where(
            TicketLedgerEntry.member_id == member_id,
            TicketLedgerEntry.kind == LedgerKind.PURCHASE.value,
        )
        .order_by(TicketLedgerEntry.id)
    ).all()
    return [(order, int(qty) - int(withdrawn.get(order.id, 0))) for order, qty in rows]


def order_by_checkout_session(db: Session, session_id: str) -> TicketOrder | None:
    query = select(TicketOrder).where(TicketOrder.checkout_session_id == session_id)
    return db.scalar(query.with_for_update())


def order_by_payment_intent(db: Session, payment_intent_id: str) -> TicketOrder | None:
    query = select(TicketOrder).where(TicketOrder.payment_intent_id == payment_intent_id)
    return db.scalar(query.with_for_update())


def lock_order(db: Session, order_id: int) -> TicketOrder | None:
    return db.scalar(select(TicketOrder).where(TicketOrder.id == order_id).with_for_update())


def expire_unpaid_before(db: Session, today: date) -> int:
    result = db.execute(
        update(TicketOrder)
        .where(TicketOrder.status == OrderStatus.AWAITING_PAYMENT.value, TicketOrder.due_on < today)
        .values(status=OrderStatus.EXPIRED.value)
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)
