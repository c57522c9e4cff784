from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field, StrictInt

from shared.enums import PaymentMethod


class OrderCreate(BaseModel):
    quantity: StrictInt
    company_name: Annotated[str, Field(max_length=200)]
    contact_name: Annotated[str, Field(max_length=200)]
    payment_method: PaymentMethod
    card_number: Annotated[str | None, Field(max_length=40)] = None


class PaymentConfirmation(BaseModel):
    # 入金日 as on the bank statement; today (JST) when omitted.
    paid_on: date | None = None


class OrderOut(BaseModel):
    id: int
    no: int
    member_id: int
    status: str
    status_label: str
    company_name: str
    contact_name: str
    quantity: int
    remaining: int
    amount_jpy: int
    amount_label: str
    payment_method: str
    payment_method_label: str
    applied_on: date
    due_on: date
    paid_on: date | None
    payment_reference: str
    # Card payments: the gateway ("stripe" | "test" | ""), where the payment stands there and,
    # while a Stripe order waits, the page the member pays on.
    gateway: str
    gateway_label: str
    gateway_status: str
    gateway_status_label: str
    payment_intent_id: str | None
    checkout_url: str | None


class OrderList(BaseModel):
    orders: list[OrderOut]
    remaining: int  # 残申込数: the ledger's available tickets
    total: int  # 申込合計: Σ quantity of the listed orders that have not expired
