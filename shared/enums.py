"""Stable words of the API, the UI, CSV exports and the CLI (docs/rules.md#outcomes).

Their Japanese labels are in :mod:`shared.labels`."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    MEMBER = "member"
    OPERATOR = "operator"


class OrderStatus(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    ACTIVE = "active"
    COMPLETED = "completed"
    EXPIRED = "expired"
    REFUNDED = "refunded"  # the card payment was refunded: its unused tickets were withdrawn


class PaymentMethod(StrEnum):
    CARD = "card"
    BANK_TRANSFER = "bank_transfer"


class PaymentGatewayName(StrEnum):
    """Who took a card payment (docs/rules.md#payments)."""

    STRIPE = "stripe"
    TEST = "test"  # the Luhn test gateway of the demo and the tests


class GatewayStatus(StrEnum):
    """Where a card payment stands at the gateway, as the operators' 入金確認 shows it."""

    OPEN = "open"  # a Checkout Session waits for the member
    PAID = "paid"
    EXPIRED = "expired"  # the Checkout Session expired unpaid
    REFUNDED = "refunded"
    AMOUNT_MISMATCH = "amount_mismatch"  # paid, but not the order's amount: not credited


class LedgerKind(StrEnum):
    PURCHASE = "purchase"  # credit on payment
    HOLD = "hold"  # a reservation or an approved addition reserves tickets
    CONSUME = "consume"  # one per sent item, taken out of the hold
    RELEASE = "release"  # cancel / completion returns the unsent hold
    WITHDRAW = "withdraw"  # a refunded order takes back its unused tickets


class ReservationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    AUTO_CANCELLED = "auto_cancelled"


class PausedBy(StrEnum):
    """Who paused a reservation (docs/rules.md#reservation-statuses): a pause by a member or an
    operator ends in 自動キャンセル after 12 hours; a ``system`` pause (the error threshold) never
    does, it waits for an operator."""

    MEMBER = "member"
    OPERATOR = "operator"
    SYSTEM = "system"


RESERVATION_FINAL = frozenset(
    {ReservationStatus.COMPLETED, ReservationStatus.CANCELLED, ReservationStatus.AUTO_CANCELLED}
)


class AdditionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ItemState(StrEnum):
    QUEUED = "queued"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    SUBMITTING = "submitting"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    IN_DOUBT = "in_doubt"
    CANCELLED = "cancelled"


ITEM_IN_FLIGHT = frozenset({ItemState.DISPATCHED, ItemState.RUNNING, ItemState.SUBMITTING})


class SendStatus(StrEnum):
    """The outcome of one send attempt (docs/rules.md#outcomes)."""

    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    IN_DOUBT = "in_doubt"


class SkipReason(StrEnum):
    REFUSED_SALES = "refused_sales"
    CAPTCHA = "captcha"
    SUPPRESSED = "suppressed"
    DUPLICATE = "duplicate"
    BLOCKED_ADDRESS = "blocked_address"


class FailReason(StrEnum):
    NO_CONTACT_PAGE = "no_contact_page"
    NO_FORM = "no_form"
    VALIDATION_ERROR = "validation_error"
    SITE_UNREACHABLE = "site_unreachable"
    HTTP_ERROR = "http_error"
    TIMEOUT = "timeout"


class DoubtReason(StrEnum):
    UNCONFIRMED = "unconfirmed"


REASONS_BY_STATUS: dict[SendStatus, frozenset[str]] = {
    SendStatus.SENT: frozenset(),
    SendStatus.SKIPPED: frozenset(r.value for r in SkipReason),
    SendStatus.FAILED: frozenset(r.value for r in FailReason),
    SendStatus.IN_DOUBT: frozenset(r.value for r in DoubtReason),
}


class NotificationKind(StrEnum):
    LIST_ADDITION_REQUEST = "list_addition_request"
    RESERVATION_APPROVED = "reservation_approved"
    ADDITION_APPROVED = "addition_approved"
    AUTO_CANCELLED = "auto_cancelled"
    COMPLETED = "completed"
    AUTO_PAUSED = "auto_paused"
    CHAT_MESSAGE = "chat_message"
    PAYMENT_CONFIRMED = "payment_confirmed"
    RESERVATION_REQUESTED = "reservation_requested"
    RESERVATION_CANCELLED = "reservation_cancelled"
    ADDITION_REQUESTED = "addition_requested"
    ADDITION_REJECTED = "addition_rejected"
    ORDER_PLACED = "order_placed"
    PAYMENT_REFUNDED = "payment_refunded"
    SYSTEM_PAUSED = "system_paused"  # to operators: a reservation waits for their check


class ImportStatus(StrEnum):
    """A prospect import job (``import_jobs.status``)."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ResponseKind(StrEnum):
    """What a mail received for an item's reply address is (``responses.kind``;
    docs/rules.md#responses). A reply that declines further contact is stored as ``reply`` with
    ``refusal`` set and counted under ``refusal``."""

    AUTO_REPLY = "auto_reply"
    REPLY = "reply"
    BOUNCE = "bounce"
    REFUSAL = "refusal"  # the word a declining reply is counted and shown under


class ResponseRate(StrEnum):
    """The 反響 rates (docs/rules.md#responses; computed in coordinator/responses/rates.py)."""

    DELIVERY_RATE = "delivery_rate"
    AUTO_REPLY_RATE = "auto_reply_rate"
    REPLY_RATE = "reply_rate"
    REFUSAL_RATE = "refusal_rate"
    CLICK_RATE = "click_rate"
