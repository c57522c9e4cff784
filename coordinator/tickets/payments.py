"""What the payment gateway tells us, applied to orders (see docs/rules.md#payments).

A Stripe webhook is applied **once per event id**: the id is recorded in ``payment_events`` in
the same transaction as its effect, so a replay (Stripe retries, an attacker resending a
captured request within the signature's five minutes) changes nothing. The effects themselves
depend only on the order's state, so the events may arrive in any order:

* ``checkout.session.completed`` (paid) and ``payment_intent.succeeded`` settle the order
  (入金待ち or 期限切れ → 作業中, tickets credited once), whichever comes first; the other one
  finds it paid;
* ``checkout.session.expired`` leaves the order 入金待ち (it expires at its due date);
* ``charge.refunded`` and ``charge.dispute.created`` (a chargeback) withdraw the order's
  unused tickets and tell the member and the operators; tickets already consumed stay consumed, tickets held by a reservation stay held.
  A refund that arrives before the payment marks the order 返金済み, and the payment that
  follows credits nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coordinator.accounts.service import Principal
from coordinator.errors import NotFound
from coordinator.tickets import errors, repository, service
from coordinator.tickets.gateway import (
    GatewayUnavailable,
    PaymentGateway,
    StripeGateway,
    order_id_of,
)
from shared import clock, labels, ledger
from shared.enums import (
    GatewayStatus,
    NotificationKind,
    OrderStatus,
    PaymentGatewayName,
    PaymentMethod,
)
from shared.models import PaymentEvent, TicketOrder
from shared.notify import notify

log = logging.getLogger(__name__)

PAYABLE = (OrderStatus.AWAITING_PAYMENT.value, OrderStatus.EXPIRED.value)
PAID = (OrderStatus.ACTIVE.value, OrderStatus.COMPLETED.value)


def apply_stripe_event(db: Session, event: dict[str, Any], gateway: PaymentGateway | None) -> str:
    """Apply one verified event; returns its outcome (also recorded with the event id)."""
    event_id, kind = str(event["id"]), str(event.get("type", ""))
    if db.scalar(select(PaymentEvent.id).where(PaymentEvent.event_id == event_id)) is not None:
        return "duplicate"
    record = PaymentEvent(event_id=event_id, type=kind, outcome="pending")
    try:
        with db.begin_nested():  # a concurrent delivery of the same event may win the insert
            db.add(record)
            db.flush()
    except IntegrityError:
        return "duplicate"
    obj = (event.get("data") or {}).get("object") or {}
    handler = _HANDLERS.get(kind)
    order, outcome = handler(db, obj, gateway) if handler else (None, "ignored")
    record.order_id = order.id if order is not None else None
    record.outcome = outcome
    db.flush()
    log.info("stripe event %s (%s): order %s %s", event_id, kind, record.order_id, outcome)
    return outcome


def _stripe_order(db: Session, order_id: int | None) -> TicketOrder | None:
    if order_id is None:
        return None
    order = repository.lock_order(db, order_id)
    if order is None or order.gateway != "stripe" or not order.checkout_session_id:
        return None
    return order


def _session_completed(
    db: Session, session: dict[str, Any], _gateway: PaymentGateway | None
) -> tuple[TicketOrder | None, str]:
    order = repository.order_by_checkout_session(db, str(session.get("id", "")))
    if order is None:
        return None, "unknown_order"
    if session.get("payment_status") != "paid":
        return order, "not_paid"  # an asynchronous method: payment_intent.succeeded follows
    outcome = _settle(
        db,
        order,
        payment_intent=str(session.get("payment_intent") or ""),
        amount=session.get("amount_total"),
        currency=session.get("currency"),
    )
    return order, outcome


def _intent_succeeded(
    db: Session, intent: dict[str, Any], _gateway: PaymentGateway | None
) -> tuple[TicketOrder | None, str]:
    order = _stripe_order(db, order_id_of((intent.get("metadata") or {}).get("order_id")))
    if order is None:
        return None, "unknown_order"
    outcome = _settle(
        db,
        order,
        payment_intent=str(intent.get("id") or ""),
        amount=intent.get("amount_received", intent.get("amount")),
        currency=intent.get("currency"),
    )
    return order, outcome


def _session_expired(
    db: Session, session: dict[str, Any], _gateway: PaymentGateway | None
) -> tuple[TicketOrder | None, str]:
    order = repository.order_by_checkout_session(db, str(session.get("id", "")))
    if order is None:
        return None, "unknown_order"
    if order.status == OrderStatus.AWAITING_PAYMENT.value:
        order.gateway_status = GatewayStatus.EXPIRED.value
        return order, "expired"
    return order, "ignored"


def _charge_refunded(
    db: Session, charge: dict[str, Any], gateway: PaymentGateway | None
) -> tuple[TicketOrder | None, str]:
    return _money_back(db, charge, gateway, "決済サービスから返金されました。")


def _dispute_created(
    db: Session, dispute: dict[str, Any], gateway: PaymentGateway | None
) -> tuple[TicketOrder | None, str]:
    # A chargeback takes the money back at once (whatever the dispute's end): so do the tickets.
    return _money_back(
        db, dispute, gateway, "カード会社への異議申し立て（チャージバック）により返金されました。"
    )


def _money_back(
    db: Session, charge: dict[str, Any], gateway: PaymentGateway | None, cause: str
) -> tuple[TicketOrder | None, str]:
    """A refunded charge or a disputed one (both carry ``payment_intent``)."""
    intent = str(charge.get("payment_intent") or "")
    order = repository.order_by_payment_intent(db, intent) if intent else None
    if order is None:
        order_id = order_id_of((charge.get("metadata") or {}).get("order_id"))
        if order_id is None and intent and isinstance(gateway, StripeGateway):
            order_id = gateway.order_id_of_payment_intent(intent)
        order = _stripe_order(db, order_id)
    if order is None:
        return None, "unknown_order"
    if order.status == OrderStatus.REFUNDED.value:
        return order, "already_refunded"
    if intent and not order.payment_intent_id:
        order.payment_intent_id = intent
    withdrawn = apply_refund(db, order, reference=str(charge.get("id") or ""), cause=cause)
    return order, f"refunded:{withdrawn}"


_HANDLERS = {
    "checkout.session.completed": _session_completed,
    "checkout.session.async_payment_succeeded": _session_completed,
    "payment_intent.succeeded": _intent_succeeded,
    "checkout.session.expired": _session_expired,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
}


def _settle(
    db: Session, order: TicketOrder, *, payment_intent: str, amount: object, currency: object
) -> str:
    """入金待ち/期限切れ → 作業中 with the tickets credited, once; a paid or refunded order is
    left as it is."""
    if order.status not in PAYABLE:
        return "already_paid" if order.status in PAID else "ignored_" + order.status
    if amount != order.amount_jpy or str(currency).lower() != "jpy":
        order.gateway_status = GatewayStatus.AMOUNT_MISMATCH.value
        notify(
            db,
            kind=NotificationKind.PAYMENT_CONFIRMED,
            for_operators=True,
            title=f"カード決済の金額が申込と一致しません（申込No.{order.id}）",
            body=f"申込: {order.amount_jpy:,}円 / Stripe: {amount} {currency}。確認してください。",
            data={"order_id": order.id},
        )
        return "amount_mismatch"
    if payment_intent:
        order.payment_intent_id = payment_intent
    order.gateway_status = GatewayStatus.PAID.value
    service.mark_paid(
        db, order, paid_on=service.today_jst(), reference=payment_intent or order.payment_reference
    )
    notify(
        db,
        kind=NotificationKind.PAYMENT_CONFIRMED,
        member_id=order.member_id,
        title=f"カード決済を確認しました（申込No.{order.id}・{order.quantity:,}件）",
        body="ステータスが「作業中」になりました。予約代行フォームから送信の予約ができます。",
        data={"order_id": order.id},
    )
    return "paid"


def apply_refund(db: Session, order: TicketOrder, *, reference: str, cause: str) -> int:
    """The order was refunded: its unused tickets are withdrawn (consumed and held ones stay),
    it becomes 返金済み, and the member and the operators are told. Returns the tickets
    withdrawn."""
    withdrawn = 0
    if order.status in PAID:
        remaining, _ = service.allocate_remaining(db, order.member_id).get(order.id, (0, False))
        withdrawn = ledger.withdraw(db, order.member_id, remaining, order.id)
    order.status = OrderStatus.REFUNDED.value
    order.gateway_status = GatewayStatus.REFUNDED.value
    order.refund_reference = reference
    order.refunded_at = clock.now()
    db.flush()
    body = (
        f"{cause}未使用のチケット {withdrawn:,}件 を取り消しました。"
        "送信済み・予約済みの件数はそのままです。"
    )
    title = f"カード決済を返金しました（申込No.{order.id}・{order.amount_jpy:,}円）"
    data = {"order_id": order.id, "withdrawn": withdrawn}
    notify(
        db,
        kind=NotificationKind.PAYMENT_REFUNDED,
        member_id=order.member_id,
        title=title,
        body=body,
        data=data,
    )
    notify(
        db,
        kind=NotificationKind.PAYMENT_REFUNDED,
        for_operators=True,
        title=title,
        body=f"会社名: {order.company_name}\n{body}",
        data=data,
    )
    return withdrawn


def refund_order(
    db: Session, order_id: int, *, operator: Principal, gateway: PaymentGateway | None
) -> TicketOrder:
    """An operator refunds an unused card order through the gateway that took it."""
    order = repository.lock_order(db, order_id)
    if order is None:
        raise NotFound("申込")
    if order.payment_method != PaymentMethod.CARD.value:
        raise errors.not_card_payment()
    if order.status != OrderStatus.ACTIVE.value:
        raise errors.not_refundable(service.status_label(order.status))
    remaining, _ = service.allocate_remaining(db, order.member_id).get(order.id, (0, False))
    if remaining != order.quantity:
        raise errors.order_in_use()
    if gateway is None or gateway.name.value != order.gateway:
        raise errors.refund_gateway_unavailable()
    try:
        reference = gateway.refund(reference=order.payment_reference, order_id=order.id)
    except GatewayUnavailable:
        raise errors.gateway_unavailable() from None
    apply_refund(
        db, order, reference=reference, cause=f"運営（{operator.name}）の操作により返金されました。"
    )
    return order


def new_checkout(
    db: Session, principal: Principal, order_id: int, *, gateway: PaymentGateway | None
) -> TicketOrder:
    """お支払いへ進む again: the open Checkout Session of a Stripe order, or a new one once the
    old one expired (an expired session can no longer be paid, so replacing it loses nothing)."""
    service.get_order(db, principal, order_id)  # another member's order is not found
    order = repository.lock_order(db, order_id)
    assert order is not None
    if order.gateway != PaymentGatewayName.STRIPE.value:
        raise errors.not_stripe_order()
    if order.status != OrderStatus.AWAITING_PAYMENT.value:
        raise errors.order_not_awaiting_payment(service.status_label(order.status))
    if order.gateway_status == GatewayStatus.OPEN.value:
        return order
    if order.gateway_status != GatewayStatus.EXPIRED.value:
        raise errors.order_not_awaiting_payment(
            labels.label(labels.GATEWAY_STATUS, order.gateway_status)
        )
    if gateway is None or gateway.name != PaymentGatewayName.STRIPE:
        raise errors.card_payments_unavailable()
    service.start_card_payment(db, order, gateway, None)
    return order
