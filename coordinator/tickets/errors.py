"""Errors of ticket orders: stable codes, Japanese messages naming the rule."""

from __future__ import annotations

from coordinator.errors import AppError, Conflict
from shared.rules import TICKET_ORDER_UNIT


def quantity_below_minimum() -> AppError:
    return AppError(
        "quantity_below_minimum",
        f"メール送信申込数は{TICKET_ORDER_UNIT:,}件以上で入力してください",
        field="quantity",
    )


def quantity_not_multiple() -> AppError:
    return AppError(
        "quantity_not_multiple",
        f"メール送信申込数は{TICKET_ORDER_UNIT:,}件単位で入力してください",
        field="quantity",
    )


def quantity_too_large(limit: int) -> AppError:
    return AppError(
        "quantity_too_large",
        f"一度に申し込めるメール送信申込数は{limit:,}件までです",
        field="quantity",
    )


def blank(field: str, label: str) -> AppError:
    return AppError(f"{field}_required", f"{label}を入力してください", field=field)


def card_number_required() -> AppError:
    return AppError(
        "card_number_required", "クレジットカード番号を入力してください", field="card_number"
    )


def card_number_unexpected() -> AppError:
    return AppError(
        "card_number_unexpected", "銀行振込ではカード番号は不要です", field="card_number"
    )


def card_invalid() -> AppError:
    return AppError(
        "card_number_invalid",
        "クレジットカード番号が正しくありません。番号をご確認ください",
        field="card_number",
    )


def card_declined(message: str) -> AppError:
    return AppError("card_declined", message, field="card_number", status_code=402)


def order_not_awaiting_payment(status_label: str) -> AppError:
    return Conflict(
        "order_not_awaiting_payment",
        f"この申込は入金待ちではありません（現在のステータス: {status_label}）",
    )


def not_bank_transfer() -> AppError:
    return Conflict("not_bank_transfer", "入金確認は銀行振込の申込のみ行えます")


def paid_on_in_future() -> AppError:
    return AppError("paid_on_in_future", "入金日に未来の日付は指定できません", field="paid_on")


def paid_on_before_applied() -> AppError:
    return AppError("paid_on_before_applied", "入金日が申込日より前になっています", field="paid_on")
