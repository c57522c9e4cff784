"""Errors of the suppression lists."""

from __future__ import annotations

from coordinator.errors import AppError


class InvalidDomain(AppError):
    def __init__(self, value: str) -> None:
        super().__init__(
            "invalid_domain",
            f"ドメインが正しくありません（{value[:60]}）。例: example.co.jp",
            field="domain",
        )


class InvalidReason(AppError):
    def __init__(self, value: str) -> None:
        super().__init__("invalid_reason", f"理由 {value[:30]} はありません", field="reason")


class NgImportTooLarge(AppError):
    def __init__(self, maximum: int) -> None:
        super().__init__(
            "ng_import_too_large",
            f"一度に取り込めるのは{maximum:,}行までです。ファイルを分けてください",
            field="file",
        )
