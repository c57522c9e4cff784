from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from coordinator.database import read_body
from coordinator.dependencies import DB, CurrentUser, Member, Operator
from coordinator.tickets import errors, invoices, payments, service
from coordinator.tickets.gateway import (
    PaymentGateway,
    SignatureInvalid,
    get_gateway,
    verify_stripe_event,
)
from coordinator.tickets.schemas import OrderCreate, OrderList, OrderOut, PaymentConfirmation
from shared import labels
from shared.config import get_settings
from shared.enums import GatewayStatus

router = APIRouter(prefix="/api/v1", tags=["tickets"])

Gateway = Annotated[PaymentGateway | None, Depends(get_gateway)]


def _out(view: service.OrderView) -> OrderOut:
    o = view.order
    return OrderOut(
        id=o.id,
        no=o.id,
        member_id=o.member_id,
        status=o.status,
        status_label=service.status_label(o.status),
        company_name=o.company_name,
        contact_name=o.contact_name,
        quantity=o.quantity,
        remaining=view.remaining,
        amount_jpy=o.amount_jpy,
        amount_label=f"{o.amount_jpy:,}円",
        payment_method=o.payment_method,
        payment_method_label=service.payment_method_label(o.payment_method),
        applied_on=o.applied_on,
        due_on=o.due_on,
        paid_on=o.paid_on,
        payment_reference=o.payment_reference,
        gateway=o.gateway,
        gateway_label=labels.label(labels.PAYMENT_GATEWAY, o.gateway),
        gateway_status=o.gateway_status,
        gateway_status_label=labels.label(labels.GATEWAY_STATUS, o.gateway_status),
        payment_intent_id=o.payment_intent_id,
        checkout_url=o.checkout_url if o.gateway_status == GatewayStatus.OPEN else None,
    )


@router.post("/orders", response_model=OrderOut, status_code=201)
def create_order(body: OrderCreate, member: Member, db: DB, gateway: Gateway) -> OrderOut:
    order = service.place_order(
        db,
        member,
        quantity=body.quantity,
        company_name=body.company_name,
        contact_name=body.contact_name,
        payment_method=body.payment_method,
        card_number=body.card_number,
        gateway=gateway,
    )
    return _out(service.get_order(db, member, order.id))


@router.get("/orders", response_model=OrderList)
def list_orders(
    user: CurrentUser,
    db: DB,
    member_id: Annotated[int | None, Query(description="operators: one member")] = None,
) -> OrderList:
    listing = service.list_orders(db, user, member_id)
    return OrderList(
        orders=[_out(v) for v in listing.orders], remaining=listing.remaining, total=listing.total
    )


@router.get("/orders/{order_id}", response_model=OrderOut)
def get_order(order_id: int, user: CurrentUser, db: DB) -> OrderOut:
    return _out(service.get_order(db, user, order_id))


@router.post("/orders/{order_id}/confirm-payment", response_model=OrderOut)
def confirm_payment(
    order_id: int,
    operator: Operator,
    db: DB,
    body: Annotated[PaymentConfirmation | None, Body()] = None,
) -> OrderOut:
    order = service.confirm_payment(
        db, order_id, operator=operator, paid_on=body.paid_on if body else None
    )
    return _out(service.get_order(db, operator, order.id))


@router.post("/orders/{order_id}/refund", response_model=OrderOut)
def refund(order_id: int, operator: Operator, db: DB, gateway: Gateway) -> OrderOut:
    """Refund an unused card order through the gateway that took it; its tickets are
    withdrawn (返金済み)."""
    order = payments.refund_order(db, order_id, operator=operator, gateway=gateway)
    return _out(service.get_order(db, operator, order.id))


@router.post("/orders/{order_id}/checkout", response_model=OrderOut)
def checkout(order_id: int, member: Member, db: DB, gateway: Gateway) -> OrderOut:
    """Pay a Stripe order that still waits: its open Checkout Session (``checkout_url``), or a
    new one once the old one expired."""
    order = payments.new_checkout(db, member, order_id, gateway=gateway)
    return _out(service.get_order(db, member, order.id))


def _pdf(content: bytes, filename: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@router.get("/orders/{order_id}/invoice.pdf", response_class=Response)
def invoice_pdf(order_id: int, user: CurrentUser, db: DB) -> Response:
    """The qualified invoice (適格請求書) of an order."""
    order = service.get_order(db, user, order_id).order
    pdf = invoices.invoice_pdf(order, service.today_jst())
    return _pdf(pdf, f"invoice-{invoices.invoice_number(order)}.pdf")


@router.get("/orders/{order_id}/receipt.pdf", response_class=Response)
def receipt_pdf(order_id: int, user: CurrentUser, db: DB) -> Response:
    """The receipt (領収書) of a paid order."""
    order = service.get_order(db, user, order_id).order
    pdf = invoices.receipt_pdf(order, service.today_jst())
    return _pdf(pdf, f"receipt-{invoices.receipt_number(order)}.pdf")


@router.post("/payments/stripe/webhook")
async def stripe_webhook(request: Request, db: DB, gateway: Gateway) -> dict[str, Any]:
    """Stripe's events, signed with the endpoint's secret; each event id is applied once."""
    secret = get_settings().stripe_webhook_secret
    if not secret:
        raise errors.webhook_not_configured()
    payload = await read_body(request)
    try:
        event = verify_stripe_event(payload, request.headers.get("stripe-signature"), secret)
    except SignatureInvalid:
        raise errors.signature_invalid() from None
    outcome = await run_in_threadpool(payments.apply_stripe_event, db, event, gateway)
    return {"received": True, "outcome": outcome}
