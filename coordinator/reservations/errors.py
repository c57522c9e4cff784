"""Errors of reservations (予約代行): stable codes, Japanese messages naming the rule, the field."""

from __future__ import annotations

from coordinator.errors import AppError, Conflict
from shared import labels
from shared.rules import (
    LIST_SIZE_FACTOR,
    MIN_SENDERS,
    RESERVATION_COUNT_STEP,
    RESERVATION_MIN_COUNT,
    SENDS_PER_SENDER,
)


def _count_rule(code: str, what: str, rule: str) -> AppError:
    return AppError(code, f"{what}は{rule}で入力してください", field="count")


def count_below_minimum() -> AppError:
    return _count_rule("count_below_minimum", "送信依頼件数", f"{RESERVATION_MIN_COUNT:,}件以上")


def count_not_multiple() -> AppError:
    return _count_rule("count_not_multiple", "送信依頼件数", f"{RESERVATION_COUNT_STEP:,}件単位")


def count_exceeds_tickets(requested: int, available: int, *, field: str = "count") -> AppError:
    return AppError(
        "count_exceeds_tickets",
        f"残申込数（{available:,}件）を超える件数は予約できません（{requested:,}件）。"
        "メール送信申込から追加でお申し込みください",
        field=field,
        details={"requested": requested, "available": available},
    )


def senders_below_minimum() -> AppError:
    return AppError(
        "senders_below_minimum",
        f"送信担当者数は{MIN_SENDERS}人以上で入力してください",
        field="senders",
    )


def senders_exceed_maximum(count: int, maximum: int) -> AppError:
    return AppError(
        "senders_exceed_maximum",
        f"送信担当者数は送信依頼件数{SENDS_PER_SENDER:,}件につき1人までです"
        f"（{count:,}件なら{maximum}人まで）",
        field="senders",
        details={"maximum": maximum},
    )


def senders_out_of_range(maximum: int) -> AppError:
    return AppError(
        "senders_out_of_range",
        f"送信担当者数は0〜{maximum}人で指定してください",
        field="senders",
        details={"maximum": maximum},
    )


def list_url_invalid(message: str) -> AppError:
    return AppError("list_url_invalid", message, field="list_url")


def list_url_requires_has_url() -> AppError:
    return AppError(
        "list_url_requires_has_url",
        "リストURLの検索条件に「URL有り」を含めてください（URLのない企業には送信できません）",
        field="list_url",
    )


def list_too_small(found: int, needed: int) -> AppError:
    return AppError(
        "list_too_small",
        f"リストの件数が足りません。検索結果は{found:,}件ですが、送信依頼件数の"
        f"{LIST_SIZE_FACTOR}倍（{needed:,}件）以上が必要です",
        field="list_url",
        details={"found": found, "needed": needed},
    )


def list_empty(field: str = "list_url") -> AppError:
    return AppError(
        "list_empty",
        "このリストには送信できる企業がありません（送信済み・送信予定・配信停止の企業は除かれます）",
        field=field,
    )


def script_not_found() -> AppError:
    return AppError(
        "script_not_found",
        "スクリプトIDが見つかりません。登録済みのスクリプトから選んでください",
        field="script_id",
    )


def ab_scripts_same() -> AppError:
    return AppError(
        "ab_scripts_same",
        "A/Bテストには異なる2つのスクリプトを選んでください",
        field="script_b_id",
    )


def script_mismatch(expected: int) -> AppError:
    return AppError(
        "script_mismatch",
        f"この予約のスクリプトID は {expected} です。送信中の予約のスクリプトは変更できません"
        "（一時停止してから変更してください）",
        field="script_id",
        details={"expected": expected},
    )


def send_window_invalid(message: str) -> AppError:
    return AppError("send_window_invalid", message, field="send_window")


def transfer_count_invalid(maximum: int) -> AppError:
    return AppError(
        "transfer_count_invalid",
        f"リスト移行件数は1〜{maximum:,}件で入力してください",
        field="count",
    )


def addition_count_below_minimum() -> AppError:
    return _count_rule(
        "addition_count_below_minimum", "追加する予約数", f"{RESERVATION_COUNT_STEP:,}件以上"
    )


def addition_count_not_multiple() -> AppError:
    return _count_rule(
        "addition_count_not_multiple", "追加する予約数", f"{RESERVATION_COUNT_STEP:,}件単位"
    )


def addition_not_pending() -> Conflict:
    return Conflict("addition_not_pending", "この予約数の追加は既に処理されています")


def invalid_status(action: str, status: str) -> Conflict:
    shown = labels.label(labels.RESERVATION_STATUS, status)
    return Conflict(
        "invalid_status",
        f"ステータスが「{shown}」の予約は{action}できません",
        details={"status": status},
    )


def already_paused() -> Conflict:
    return Conflict("already_paused", "この予約は既に一時停止中です")


def queue_empty() -> Conflict:
    return Conflict(
        "queue_empty",
        "収集中リストが0件のため再開できません。見込客リストから「送信代行」でリストを追加してから"
        "再開してください",
    )
