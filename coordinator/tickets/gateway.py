"""Card payments behind a small interface, with the bundled test gateway.

A real acquirer plugs in as another :class:`PaymentGateway`; the test gateway never touches the
network. Its cards (like the public test numbers of the big acquirers):

* ``4242 4242 4242 4242`` — settles;
* ``4000 0000 0000 0002`` — declined by the issuer;
* any number failing the Luhn check, or not 12–19 digits — invalid;
* any other Luhn-valid number — settles.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Protocol


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


class PaymentGateway(Protocol):
    def charge(self, *, card_number: str, amount_jpy: int, description: str) -> Charge:
        """Settle ``amount_jpy`` at once or raise :class:`CardInvalid` / :class:`CardDeclined`."""
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


def get_gateway() -> PaymentGateway:
    """FastAPI dependency: the configured gateway (only the test gateway is bundled)."""
    return TestGateway()
