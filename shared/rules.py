"""The numbers of docs/rules.md, each named once and used where its rule is enforced."""

from __future__ import annotations

from datetime import timedelta

TICKET_ORDER_UNIT = 1_000  # メール送信申込数 is ordered in units of 1,000
PRICE_PER_SEND_JPY = 20  # excluding tax
CONSUMPTION_TAX_PERCENT = 10
PAYMENT_DUE_DAYS = 10  # 支払期限 = applied date + 10 days

RESERVATION_MIN_COUNT = 300
RESERVATION_COUNT_STEP = 100
SENDS_PER_SENDER = 500  # senders ≤ floor(count / 500), at least 1
MIN_SENDERS = 1
LIST_SIZE_FACTOR = 2  # the list's result count must be ≥ 2 × count

PAUSE_AUTO_CANCEL_AFTER = timedelta(hours=12)
LIST_ADDITION_THRESHOLD = 1.5  # notify when queued < 1.5 × remaining
LIST_ADDITION_SUGGEST_FACTOR = 2  # suggest ≥ 2 × remaining − queued

ERROR_PAUSE_WINDOW = 20  # last 20 attempts all failed the same non-site way → pause


def order_amount_jpy(quantity: int) -> int:
    """Amount including tax, in integer JPY (2,000 → 44,000)."""
    return quantity * PRICE_PER_SEND_JPY * (100 + CONSUMPTION_TAX_PERCENT) // 100


def max_senders(count: int) -> int:
    return max(MIN_SENDERS, count // SENDS_PER_SENDER)


def list_addition_suggestion(count: int, sent: int, queued: int) -> int | None:
    """Items to suggest adding, or None when the queue is still large enough."""
    remaining = count - sent
    if remaining <= 0:
        return None
    # Exact: 1.5 times an integer is a float without rounding.
    if queued < LIST_ADDITION_THRESHOLD * remaining:
        return LIST_ADDITION_SUGGEST_FACTOR * remaining - queued
    return None
