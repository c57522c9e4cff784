"""Ticket orders (メール送信申込, docs/rules.md#tickets): order, pay, confirm, expire, list with 残申込数.

Orders record what was bought and paid; the tickets themselves live in :mod:`shared.ledger`.
A paid order credits the ledger once. The 残申込数 of each order is derived from the ledger by
spending the member's used tickets (consumed + held) over the paid orders, oldest credit first;
an order whose tickets are all *consumed* is 完了 (completed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy.orm import Session

from coordinator.accounts import access
from coordinator.accounts.service import Principal
from coordinator.errors import NotFound
from coordinator.tickets import errors, repository
from coordinator.tickets.gateway import (
    CardDeclined,
    CardInvalid,
    Checkout,
    GatewayUnavailable,
    PaymentGateway,
    PaymentRequest,
)
from shared import clock, labels, ledger
from shared.config import get_settings
from shared.enums import GatewayStatus, NotificationKind, OrderStatus, PaymentMethod
from shared.models import TicketOrder
from shared.notify import notify
from shared.rules import PAYMENT_DUE_DAYS, TICKET_ORDER_UNIT, order_amount_jpy

# Japan has no daylight saving time: a fixed +09:00 offset is its civil time.
JST = timezone(timedelta(hours=9), "JST")
# Not a business rule: a guard against typos (and integer overflow of the amount).
MAX_ORDER_QUANTITY = 1_000_000


def today_jst(now: datetime | None = None) -> date:
    return (now or clock.now()).astimezone(JST).date()


def due_date(applied_on: date) -> date:
    """支払期限 = applied date + 10 days; unpaid orders expire the day after."""
    return applied_on + timedelta(days=PAYMENT_DUE_DAYS)


def validate_quantity(quantity: int) -> None:
    if quantity < TICKET_ORDER_UNIT:
        raise errors.quantity_below_minimum()
    if quantity % TICKET_ORDER_UNIT:
        raise errors.quantity_not_multiple()
    if quantity > MAX_ORDER_QUANTITY:
        raise errors.quantity_too_large(MAX_ORDER_QUANTITY)


def place_order(
    db: Session,
    principal: Principal,
    *,
    quantity: int,
    company_name: str,
    contact_name: str,
    payment_method: PaymentMethod,
    card_number: str | None,
    gateway: PaymentGateway | None,
) -> TicketOrder:
    """Create an order. A card order goes to the configured gateway: the test gateway charges
    at once (then the order is 作業中 and credited); with Stripe the order waits (入金待ち) for
    the signed webhook, and its ``checkout_url`` is where the member pays. Without a gateway
    card orders are refused. A bank transfer waits for an operator's confirmation. A declined
    or invalid card raises, and the request's rollback leaves no order behind."""
    assert principal.member_id is not None
    validate_quantity(quantity)
    company_name, contact_name = company_name.strip(), contact_name.strip()
    if not company_name:
        raise errors.blank("company_name", "会社名")
    if not contact_name:
        raise errors.blank("contact_name", "担当者名")
    card_number = (card_number or "").strip() or None
    if payment_method == PaymentMethod.CARD:
        if gateway is None:
            raise errors.card_payments_unavailable()
        if not gateway.takes_card_numbers and card_number is not None:
            raise errors.card_number_not_accepted()
        if gateway.takes_card_numbers and card_number is None:
            raise errors.card_number_required()
    if payment_method == PaymentMethod.BANK_TRANSFER and card_number is not None:
        raise errors.card_number_unexpected()

    applied_on = today_jst()
    order = TicketOrder(
        member_id=principal.member_id,
        company_name=company_name,
        contact_name=contact_name,
        quantity=quantity,
        amount_jpy=order_amount_jpy(quantity),
        payment_method=payment_method.value,
        status=OrderStatus.AWAITING_PAYMENT.value,
        applied_on=applied_on,
        due_on=due_date(applied_on),
        created_by=principal.user_id,
    )
    db.add(order)
    db.flush()
    if payment_method == PaymentMethod.CARD:
        assert gateway is not None
        start_card_payment(db, order, gateway, card_number)
    else:
        notify(
            db,
            kind=NotificationKind.ORDER_PLACED,
            for_operators=True,
            title=f"銀行振込の申込がありました（申込No.{order.id}・{quantity:,}件・{order.amount_jpy:,}円）",
            body=f"会社名: {company_name}\n担当者名: {contact_name}\n支払期限: {order.due_on:%Y/%m/%d}",
            data={"order_id": order.id},
        )
    return order


def start_card_payment(
    db: Session, order: TicketOrder, gateway: PaymentGateway, card_number: str | None
) -> None:
    base = get_settings().public_base_url.rstrip("/")
    request = PaymentRequest(
        order_id=order.id,
        amount_jpy=order.amount_jpy,
        description=f"Mikomi メール送信申込 No.{order.id}（{order.quantity:,}件）",
        success_url=f"{base}/orders?checkout=success&order={order.id}",
        cancel_url=f"{base}/orders?checkout=cancelled&order={order.id}",
    )
    order.gateway = gateway.name.value
    try:
        started = gateway.start(request, card_number)
    except CardInvalid:
        raise errors.card_invalid() from None
    except CardDeclined as exc:
        raise errors.card_declined(exc.message) from None
    except GatewayUnavailable:
        raise errors.gateway_unavailable() from None
    if isinstance(started, Checkout):
        order.checkout_session_id = started.session_id
        order.checkout_url = started.url
        order.gateway_status = GatewayStatus.OPEN.value
        db.flush()
        return
    order.gateway_status = GatewayStatus.PAID.value
    mark_paid(db, order, paid_on=order.applied_on, reference=started.reference)


def mark_paid(db: Session, order: TicketOrder, *, paid_on: date, reference: str) -> None:
    order.status = OrderStatus.ACTIVE.value
    order.paid_on = paid_on
    order.payment_reference = reference
    db.flush()
    ledger.credit_purchase(db, order.member_id, order.quantity, order.id)


def confirm_payment(
    db: Session, order_id: int, *, operator: Principal, paid_on: date | None = None
) -> TicketOrder:
    """An operator records a received bank transfer: 入金待ち → 作業中 and the tickets are
    credited. An order that expired meanwhile may still be confirmed (the money arrived)."""
    order = repository.lock_order(db, order_id)
    if order is None:
        raise NotFound("申込")
    if order.payment_method != PaymentMethod.BANK_TRANSFER.value:
        raise errors.not_bank_transfer()
    if order.status not in (OrderStatus.AWAITING_PAYMENT.value, OrderStatus.EXPIRED.value):
        raise errors.order_not_awaiting_payment(status_label(order.status))
    today = today_jst()
    paid_on = paid_on or today
    if paid_on > today:
        raise errors.paid_on_in_future()
    if paid_on < order.applied_on:
        raise errors.paid_on_before_applied()
    mark_paid(
        db, order, paid_on=paid_on, reference=f"bank_transfer:confirmed_by:{operator.user_id}"
    )
    notify(
        db,
        kind=NotificationKind.PAYMENT_CONFIRMED,
        member_id=order.member_id,
        title=f"入金を確認しました（申込No.{order.id}・{order.quantity:,}件）",
        body="ステータスが「作業中」になりました。予約代行フォームから送信の予約ができます。",
        data={"order_id": order.id},
    )
    return order


def expire_overdue(db: Session, now: datetime) -> int:
    """Orders still unpaid after their due date (JST) become 期限切れ; returns how many."""
    return repository.expire_unpaid_before(db, today_jst(now))


# --- the list ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderView:
    order: TicketOrder
    remaining: int


@dataclass(frozen=True)
class OrderListing:
    orders: list[OrderView]
    remaining: int
    total: int


def allocate_remaining(db: Session, member_id: int) -> dict[int, tuple[int, bool]]:
    """order id → (残申込数, fully consumed) for the member's paid orders (FIFO over credits)."""
    bal = ledger.balance(db, member_id)
    used_left = bal.consumed + bal.held  # = credited − available
    consumed_left = bal.consumed
    result: dict[int, tuple[int, bool]] = {}
    for order, credited in repository.paid_orders_fifo(db, member_id):
        used = min(credited, used_left)
        used_left -= used
        consumed = min(credited, consumed_left)
        consumed_left -= consumed
        result[order.id] = (credited - used, consumed == credited)
    return result


def list_orders(db: Session, principal: Principal, member_id: int | None = None) -> OrderListing:
    """A member's orders (an operator: everybody's, or one member's) with 残申込数 and 申込合計."""
    member_id = access.member_scope(principal, member_id)
    rows = repository.orders(db, member_id)
    views = _views(db, rows)
    if member_id is not None:
        remaining_total = ledger.balance(db, member_id).available
    else:
        remaining_total = sum(v.remaining for v in views)
    # Expired and refunded orders bought nothing.
    uncounted = (OrderStatus.EXPIRED.value, OrderStatus.REFUNDED.value)
    total = sum(o.quantity for o in rows if o.status not in uncounted)
    db.flush()
    return OrderListing(orders=views, remaining=remaining_total, total=total)


def _views(db: Session, rows: Sequence[TicketOrder]) -> list[OrderView]:
    """Each order with its 残申込数 (the ledger's allocation over its member's orders)."""
    allocation: dict[int, tuple[int, bool]] = {}
    for mid in sorted({o.member_id for o in rows}):
        allocation.update(allocate_remaining(db, mid))
    views = []
    for order in rows:
        remaining, used_up = allocation.get(order.id, (0, False))
        # 完了 follows the ledger: kept on the row so every reader agrees with the list.
        if used_up and order.status == OrderStatus.ACTIVE.value:
            order.status = OrderStatus.COMPLETED.value
        views.append(OrderView(order=order, remaining=remaining))
    db.flush()
    return views


def orders_page(
    db: Session,
    operator: Principal,
    *,
    search: str = "",
    status: str = "",
    page: int = 1,
    per_page: int = 100,
) -> tuple[int, list[OrderView]]:
    """入金確認: a page of every member's orders (searched by No or name), newest first."""
    access.operator_only(operator)
    if status and status not in {s.value for s in OrderStatus}:
        status = "__none__"  # a status that does not exist matches nothing
    total, rows = repository.orders_page(
        db, search=search.strip()[:100], status=status,
        offset=(max(1, page) - 1) * per_page, limit=per_page,
    )  # fmt: skip
    return total, _views(db, rows)


def awaiting_payment(db: Session) -> int:
    """How many orders wait for an operator to confirm their bank transfer."""
    # A card order waiting for Stripe is not the operators' to confirm.
    return repository.count_with_status(
        db, OrderStatus.AWAITING_PAYMENT.value, PaymentMethod.BANK_TRANSFER.value
    )


def get_order(db: Session, principal: Principal, order_id: int) -> OrderView:
    order = access.visible(principal, db.get(TicketOrder, order_id), "申込")
    remaining, used_up = allocate_remaining(db, order.member_id).get(order.id, (0, False))
    if used_up and order.status == OrderStatus.ACTIVE.value:
        order.status = OrderStatus.COMPLETED.value
        db.flush()
    return OrderView(order=order, remaining=remaining)


def status_label(status: str) -> str:
    return labels.label(labels.ORDER_STATUS, status)


def payment_method_label(method: str) -> str:
    return labels.label(labels.PAYMENT_METHOD, method)
