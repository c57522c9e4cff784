"""The Japanese words shown for the stable English words of the API, the UI and the CSV exports.

The one catalogue of display labels: statuses (orders, reservations, additions, items, prospect
imports), reasons (send outcomes, suppressions), notification kinds, payment methods and roles.
The API's ``*_ja`` fields, the templates' ``*_ja`` filters, the results CSV and the page script
(which reads :func:`catalogue` from the page) all take their words from here; a table of labels
anywhere else is a second copy (tests/shared/test_labels.py looks for one).

The words follow the manual's vocabulary: 入金待ち/作業中 for orders (docs/rules.md#tickets),
申請中/承認済み/一時停止 for reservations (docs/rules.md#reservation-statuses), 収集中 for the queue
(収集中リスト), 送信結果不明 for an item whose send could not be confirmed (docs/rules.md#outcomes).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from shared.enums import (
    AdditionStatus,
    DoubtReason,
    FailReason,
    GatewayStatus,
    ImportStatus,
    ItemState,
    NotificationKind,
    OrderStatus,
    PausedBy,
    PaymentGatewayName,
    PaymentMethod,
    ReservationStatus,
    ResponseKind,
    ResponseRate,
    Role,
    SkipReason,
)
from shared.suppression import SuppressionReason

__all__ = [
    "ADDITION_STATUS",
    "GATEWAY_STATUS",
    "IMPORT_STATUS",
    "ITEM_STATE",
    "NOTIFICATION_KIND",
    "ORDER_STATUS",
    "PAYMENT_GATEWAY",
    "PAUSED_BY",
    "PAYMENT_METHOD",
    "REASON",
    "RESERVATION_STATUS",
    "RESPONSE_KIND",
    "RESPONSE_RATE",
    "ROLE",
    "SUPPRESSION_REASON",
    "TABLES",
    "catalogue",
    "label",
    "reservation_status",
]


def _table(words: dict[str, str]) -> Mapping[str, str]:
    # Keys are StrEnum members, which hash and compare as their value: a plain string from a row
    # or a query finds its label as well as the member does.
    return MappingProxyType(words)


ORDER_STATUS = _table(
    {
        OrderStatus.AWAITING_PAYMENT: "入金待ち",
        OrderStatus.ACTIVE: "作業中",
        OrderStatus.COMPLETED: "完了",
        OrderStatus.EXPIRED: "期限切れ",
        OrderStatus.REFUNDED: "返金済み",
    }
)

PAYMENT_METHOD = _table(
    {
        PaymentMethod.CARD: "クレジットカード決済",
        PaymentMethod.BANK_TRANSFER: "銀行振込",
    }
)

PAYMENT_GATEWAY = _table(
    {
        PaymentGatewayName.STRIPE: "Stripe",
        PaymentGatewayName.TEST: "テスト決済",
    }
)

GATEWAY_STATUS = _table(
    {
        GatewayStatus.OPEN: "決済待ち",
        GatewayStatus.PAID: "決済完了",
        GatewayStatus.EXPIRED: "決済期限切れ",
        GatewayStatus.REFUNDED: "返金済み",
        GatewayStatus.AMOUNT_MISMATCH: "金額不一致",
    }
)

RESERVATION_STATUS = _table(
    {
        ReservationStatus.PENDING: "申請中",
        ReservationStatus.APPROVED: "承認済み",
        ReservationStatus.PAUSED: "一時停止",
        ReservationStatus.COMPLETED: "完了",
        ReservationStatus.CANCELLED: "キャンセル",
        ReservationStatus.AUTO_CANCELLED: "自動キャンセル",
    }
)

# A paused reservation as people see it: a pause by the error threshold is システム確認中 (an
# operator is checking; it never auto-cancels), not the member's own 一時停止.
PAUSED_BY = _table(
    {
        PausedBy.MEMBER: "一時停止",
        PausedBy.OPERATOR: "一時停止（運営）",
        PausedBy.SYSTEM: "システム確認中",
    }
)

# A 予約数を追加 waits for an operator: the pages call it 承認待ち (追加承認待ち, 承認待ちの追加).
ADDITION_STATUS = _table(
    {
        AdditionStatus.PENDING: "承認待ち",
        AdditionStatus.APPROVED: "承認済み",
        AdditionStatus.REJECTED: "却下",
    }
)

ITEM_STATE = _table(
    {
        ItemState.QUEUED: "収集中",
        ItemState.DISPATCHED: "送信準備中",
        ItemState.RUNNING: "送信中",
        ItemState.SUBMITTING: "送信確定中",
        ItemState.SENT: "送信済み",
        ItemState.FAILED: "送信失敗",
        ItemState.SKIPPED: "スキップ",
        ItemState.IN_DOUBT: "送信結果不明",
        ItemState.CANCELLED: "取消",
    }
)

# The reasons of a send outcome; each reason belongs to one status (shared.enums.REASONS_BY_STATUS).
REASON = _table(
    {
        SkipReason.REFUSED_SALES: "営業お断り",
        SkipReason.CAPTCHA: "CAPTCHA",
        SkipReason.SUPPRESSED: "配信停止",
        SkipReason.DUPLICATE: "送信済み",
        SkipReason.BLOCKED_ADDRESS: "非公開アドレス",
        FailReason.NO_CONTACT_PAGE: "問い合わせページなし",
        FailReason.NO_FORM: "フォームなし",
        FailReason.VALIDATION_ERROR: "入力エラー",
        FailReason.SITE_UNREACHABLE: "接続不可",
        FailReason.HTTP_ERROR: "HTTPエラー",
        FailReason.TIMEOUT: "タイムアウト",
        DoubtReason.UNCONFIRMED: "送信結果不明",
    }
)

SUPPRESSION_REASON = _table(
    {
        SuppressionReason.OPTOUT: "配信停止（オプトアウト）",
        SuppressionReason.REFUSED_SALES: "営業お断り",
        SuppressionReason.COMPLAINT: "苦情",
        SuppressionReason.NG: "NGリスト",
        SuppressionReason.MANUAL: "手動登録",
    }
)

NOTIFICATION_KIND = _table(
    {
        NotificationKind.LIST_ADDITION_REQUEST: "リスト追加依頼",
        NotificationKind.RESERVATION_REQUESTED: "予約申請",
        NotificationKind.RESERVATION_APPROVED: "予約承認",
        NotificationKind.RESERVATION_CANCELLED: "予約キャンセル",
        NotificationKind.ADDITION_REQUESTED: "追加申請",
        NotificationKind.ADDITION_APPROVED: "追加承認",
        NotificationKind.ADDITION_REJECTED: "追加却下",
        NotificationKind.AUTO_CANCELLED: "自動キャンセル",
        NotificationKind.COMPLETED: "完了",
        NotificationKind.AUTO_PAUSED: "自動一時停止",
        NotificationKind.CHAT_MESSAGE: "チャット",
        NotificationKind.ORDER_PLACED: "送信申込",
        NotificationKind.PAYMENT_CONFIRMED: "入金確認",
        NotificationKind.PAYMENT_REFUNDED: "返金",
        NotificationKind.SYSTEM_PAUSED: "システム一時停止",
    }
)

IMPORT_STATUS = _table(
    {
        ImportStatus.RUNNING: "取込中",
        ImportStatus.DONE: "完了",
        ImportStatus.FAILED: "失敗",
    }
)

ROLE = _table({Role.MEMBER: "会員", Role.OPERATOR: "運営"})

# 反響 (docs/rules.md#responses): a received mail as counted and shown.
RESPONSE_KIND = _table(
    {
        ResponseKind.AUTO_REPLY: "自動返信",
        ResponseKind.REPLY: "返信",
        ResponseKind.REFUSAL: "お断り",
        ResponseKind.BOUNCE: "不達通知",
    }
)
RESPONSE_RATE = _table(
    {
        ResponseRate.DELIVERY_RATE: "到達率",
        ResponseRate.AUTO_REPLY_RATE: "自動返信率",
        ResponseRate.REPLY_RATE: "反応率",
        ResponseRate.REFUSAL_RATE: "お断り率",
        ResponseRate.CLICK_RATE: "クリック率",
    }
)

# Each table under the name the templates' filters (``<name>_ja``) and the page script use.
TABLES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "order_status": ORDER_STATUS,
        "payment_method": PAYMENT_METHOD,
        "payment_gateway": PAYMENT_GATEWAY,
        "gateway_status": GATEWAY_STATUS,
        "reservation_status": RESERVATION_STATUS,
        "paused_by": PAUSED_BY,
        "addition_status": ADDITION_STATUS,
        "item_state": ITEM_STATE,
        "reason": REASON,
        "suppression_reason": SUPPRESSION_REASON,
        "notification_kind": NOTIFICATION_KIND,
        "import_status": IMPORT_STATUS,
        "role": ROLE,
        "response_kind": RESPONSE_KIND,
        "response_rate": RESPONSE_RATE,
    }
)


def label(table: Mapping[str, str], word: str | None) -> str:
    """The Japanese label of ``word``; a word the table does not know is shown as it is, and
    no word (an item without a reason) as nothing."""
    if not word:
        return ""
    return table.get(word, word)


def reservation_status(status: str, paused_by: str | None = None) -> str:
    """A reservation's status as shown: a paused one says who paused it (システム確認中)."""
    if status == ReservationStatus.PAUSED and paused_by:
        return label(PAUSED_BY, paused_by)
    return label(RESERVATION_STATUS, status)


def catalogue() -> dict[str, dict[str, str]]:
    """Every table as plain JSON-ready dicts keyed by the English word (for the page script)."""
    return {name: {str(k): v for k, v in table.items()} for name, table in TABLES.items()}
