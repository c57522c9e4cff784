"""Errors of the fleet's operator endpoints."""

from __future__ import annotations

from coordinator.errors import AppError, Conflict


class ItemNotInDoubt(Conflict):
    def __init__(self) -> None:
        super().__init__("item_not_in_doubt", "この送信は確認待ち（送信結果不明）ではありません")


class InvalidResolution(AppError):
    def __init__(self, message: str) -> None:
        super().__init__("invalid_resolution", message, field="status")
