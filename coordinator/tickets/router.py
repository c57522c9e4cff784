from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query

from coordinator.dependencies import DB, CurrentUser, Member, Operator
from coordinator.tickets import service
from coordinator.tickets.gateway import PaymentGateway, get_gateway
from coordinator.tickets.schemas import OrderCreate, OrderList, OrderOut, PaymentConfirmation

router = APIRouter(prefix="/api/v1", tags=["tickets"])

Gateway = Annotated[PaymentGateway, Depends(get_gateway)]


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
