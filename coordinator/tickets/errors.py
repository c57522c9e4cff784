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


# --- card payments and refunds (docs/rules.md#payments) --------------------------------------


def card_payments_unavailable() -> AppError:
    return AppError(
        "card_payments_unavailable",
        "現在クレジットカード決済はご利用いただけません。銀行振込をお選びください",
        field="payment_method",
    )


def card_number_not_accepted() -> AppError:
    return AppError(
        "card_number_not_accepted",
        "カード番号はこの画面では受け付けません。決済ページ（Stripe）で入力してください",
        field="card_number",
    )


def gateway_unavailable() -> AppError:
    return AppError(
        "payment_gateway_unavailable",
        "決済サービスに接続できませんでした。しばらくしてからもう一度お試しください",
        status_code=503,
    )


def not_card_payment() -> AppError:
    return Conflict(
        "not_card_payment", "決済サービス経由の返金はクレジットカード決済の申込のみ行えます"
    )


def not_stripe_order() -> AppError:
    return Conflict("not_stripe_order", "この申込はStripeでのカード決済の申込ではありません")


def not_refundable(status_label: str) -> AppError:
    return Conflict(
        "order_not_refundable",
        f"この申込は返金できません（現在のステータス: {status_label}）",
    )


def order_in_use() -> AppError:
    return Conflict(
        "order_in_use",
        "この申込のチケットは予約または送信に使われているため返金できません",
    )


def refund_gateway_unavailable() -> AppError:
    return Conflict(
        "refund_gateway_unavailable",
        "この申込を決済した決済サービスが現在の設定では使えないため、返金できません",
    )


def webhook_not_configured() -> AppError:
    return AppError("webhook_not_configured", "Stripeの署名シークレットが設定されていません")


def signature_invalid() -> AppError:
    return AppError("signature_invalid", "署名を確認できませんでした")


# --- invoices and receipts -------------------------------------------------------------------


def invoice_not_configured(missing: str) -> AppError:
    return Conflict(
        "invoice_not_configured",
        f"請求書・領収書の発行に必要な設定（{missing}）がありません。運営にお問い合わせください",
    )


def receipt_not_paid() -> AppError:
    return Conflict("receipt_not_paid", "領収書は入金済みの申込についてのみ発行できます")
