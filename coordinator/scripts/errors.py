"""Errors of scripts: stable codes; ``field`` is the path of the offending value in the script
JSON (docs/rules.md#scripts)."""

from __future__ import annotations

from coordinator.errors import AppError, Conflict


def required(field: str, label: str) -> AppError:
    code = "script_name_required" if field == "name" else f"{field.replace('.', '_')}_required"
    return AppError(code, f"{label}を入力してください", field=field)


def invalid(code: str, field: str, message: str) -> AppError:
    return AppError(code, message, field=field)


def unknown_placeholder(field: str, token: str, allowed: str) -> AppError:
    return AppError(
        "unknown_placeholder",
        f"不明な差し込み項目 {token} があります（使用できるのは {allowed} です）",
        field=field,
        details={"placeholder": token},
    )


def malformed_placeholder(field: str) -> AppError:
    return AppError(
        "malformed_placeholder",
        "差し込み項目の括弧が閉じていません（{{company}} のように書いてください）",
        field=field,
    )


def invalid_script(problems: list[str]) -> AppError:
    return AppError("invalid_script", problems[0], details={"problems": problems})


def script_sending(reservation_ids: list[int]) -> AppError:
    ids = "、".join(str(i) for i in reservation_ids)
    return Conflict(
        "script_sending",
        f"このスクリプトは送信中の予約（予約ID: {ids}）で使われているため変更できません。"
        "予約を一時停止してから変更してください",
        details={"reservation_ids": reservation_ids},
    )


def script_in_use(reservation_ids: list[int]) -> AppError:
    ids = "、".join(str(i) for i in reservation_ids)
    return Conflict(
        "script_in_use",
        f"このスクリプトは進行中の予約（予約ID: {ids}）で使われているため削除できません",
        details={"reservation_ids": reservation_ids},
    )
