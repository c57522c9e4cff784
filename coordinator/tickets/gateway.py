"""Card payments behind a small interface (see docs/rules.md#payments), chosen by
``MIKOMI_PAYMENTS``:

* :class:`StripeGateway` — a Stripe Checkout Session in JPY per order: the member pays on
  Stripe's page (card numbers never reach Mikomi) and the order is settled by the signed
  webhook (:mod:`coordinator.tickets.payments`);
* :class:`TestGateway` — settles at once, never touches the network; honoured only in the demo
  and under the tests, and every page then says テスト決済;
* neither — :func:`get_gateway` gives ``None`` and card orders are refused.

The test gateway's cards (like the public test numbers of the big acquirers):

* ``4242 4242 4242 4242`` — settles;
* ``4000 0000 0000 0002`` — declined by the issuer;
* any number failing the Luhn check, or not 12–19 digits — invalid;
* any other Luhn-valid number — settles.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Protocol

import stripe

from shared.config import get_settings
from shared.enums import PaymentGatewayName

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Charge:
    reference: str  # the gateway's id of the settled charge
    amount_jpy: int
    last4: str


class CardInvalid(Exception):  # noqa: N818
    """The card number is malformed (length, characters or Luhn check digit)."""


class CardDeclined(Exception):  # noqa: N818
    """The issuer refused the charge; ``message`` is Japanese, for the member."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Checkout:
    """The member pays on the gateway's own page; the order waits for the gateway's word."""

    session_id: str
    url: str


@dataclass(frozen=True)
class PaymentRequest:
    order_id: int
    amount_jpy: int
    description: str
    success_url: str  # where the member comes back to after paying
    cancel_url: str


class GatewayUnavailable(Exception):  # noqa: N818
    """The gateway could not be reached or refused the request (not the card)."""


class PaymentGateway(Protocol):
    name: PaymentGatewayName
    # False: the member types the card number on the gateway's page, never into Mikomi.
    takes_card_numbers: bool

    def start(self, request: PaymentRequest, card_number: str | None) -> Charge | Checkout:
        """Settle at once (:class:`Charge`) or send the member to pay (:class:`Checkout`);
        raises :class:`CardInvalid`, :class:`CardDeclined` or :class:`GatewayUnavailable`."""
        ...

    def refund(self, *, reference: str, order_id: int) -> str:
        """Refund the whole payment ``reference``; returns the refund's id."""
        ...


_SEPARATORS = re.compile(r"[\s-]")


def normalize_card_number(card_number: str) -> str:
    """Digits only (spaces and hyphens are allowed between groups); raises CardInvalid."""
    digits = _SEPARATORS.sub("", card_number or "")
    if not digits.isascii() or not digits.isdigit() or not 12 <= len(digits) <= 19:
        raise CardInvalid("card number must be 12-19 digits")
    if not luhn_ok(digits):
        raise CardInvalid("card number fails the Luhn check")
    return digits


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


DECLINED_CARDS = {
    "4000000000000002": "カードが承認されませんでした（カード会社により決済が拒否されました）。別のカードをご利用いただくか、カード会社にお問い合わせください",
}


class TestGateway:
    """The bundled gateway for development, demos and tests."""

    __test__ = False  # not a pytest test class
    name: ClassVar[PaymentGatewayName] = PaymentGatewayName.TEST
    takes_card_numbers: ClassVar[bool] = True

    def start(self, request: PaymentRequest, card_number: str | None) -> Charge:
        return self.charge(
            card_number=card_number or "",
            amount_jpy=request.amount_jpy,
            description=request.description,
        )

    def refund(self, *, reference: str, order_id: int) -> str:
        return f"test_re_{secrets.token_hex(8)}"

    def charge(self, *, card_number: str, amount_jpy: int, description: str) -> Charge:
        digits = normalize_card_number(card_number)
        if amount_jpy <= 0:
            raise ValueError("amount must be positive")
        declined = DECLINED_CARDS.get(digits)
        if declined:
            raise CardDeclined(declined)
        return Charge(
            reference=f"test_ch_{secrets.token_hex(8)}", amount_jpy=amount_jpy, last4=digits[-4:]
        )


class StripeGateway:
    """Stripe Checkout through the official library; ``api_base`` empty means Stripe's API."""

    name: ClassVar[PaymentGatewayName] = PaymentGatewayName.STRIPE
    takes_card_numbers: ClassVar[bool] = False

    def __init__(self, secret_key: str, api_base: str = "") -> None:
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=2,  # the library reuses one idempotency key across its retries
        )

    def start(self, request: PaymentRequest, card_number: str | None) -> Checkout:
        assert card_number is None, "card numbers never reach Mikomi with Stripe"
        order = str(request.order_id)
        params: Any = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "jpy",
                        "unit_amount": request.amount_jpy,  # JPY has no minor unit
                        "product_data": {"name": request.description},
                    },
                }
            ],
            "client_reference_id": order,
            "metadata": {"order_id": order},
            "payment_intent_data": {"metadata": {"order_id": order}},
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }
        try:
            session = self.client.v1.checkout.sessions.create(params=params)
        except stripe.StripeError as exc:
            log.warning("stripe: checkout session for order %s failed: %s", order, exc)
            raise GatewayUnavailable(str(exc)) from exc
        if not session.url:
            raise GatewayUnavailable("the checkout session has no url")
        return Checkout(session_id=session.id, url=session.url)

    def refund(self, *, reference: str, order_id: int) -> str:
        params: Any = {"payment_intent": reference, "metadata": {"order_id": str(order_id)}}
        try:
            return str(self.client.v1.refunds.create(params=params).id)
        except stripe.StripeError as exc:
            log.warning("stripe: refund of %s failed: %s", reference, exc)
            raise GatewayUnavailable(str(exc)) from exc

    def order_id_of_payment_intent(self, payment_intent_id: str) -> int | None:
        """The order a PaymentIntent pays (its metadata), asked of Stripe."""
        try:
            intent = self.client.v1.payment_intents.retrieve(payment_intent_id)
        except stripe.StripeError as exc:
            log.warning("stripe: payment intent %s: %s", payment_intent_id, exc)
            return None
        return order_id_of(intent.to_dict().get("metadata", {}).get("order_id"))


class SignatureInvalid(Exception):  # noqa: N818
    """A webhook whose signature is missing, wrong or too old (replayed)."""


def verify_stripe_event(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event of a webhook, once the library's own check accepts its ``Stripe-Signature``
    (HMAC-SHA256 of ``"{t}.{payload}"`` with the endpoint's secret, at most 5 minutes old)."""
    try:
        stripe.Webhook.construct_event(payload, signature, secret)
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise SignatureInvalid(str(exc)) from exc
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise SignatureInvalid("not an event")
    return event


def order_id_of(value: object) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() else None


@lru_cache(maxsize=4)
def _stripe_gateway(secret_key: str, api_base: str) -> StripeGateway:
    return StripeGateway(secret_key, api_base)


def configured_gateway() -> PaymentGateway | None:
    """The gateway of the settings (docs/operations.md#payments), or None: no card payments."""
    settings = get_settings()
    mode = settings.payment_mode
    if mode == "stripe":
        return _stripe_gateway(settings.stripe_secret_key, settings.stripe_api_base)
    if mode == "test":
        return TestGateway()
    return None


def get_gateway() -> PaymentGateway | None:
    """FastAPI dependency: the configured gateway, or None when card payments are off."""
    return configured_gateway()
