"""Form plumbing of the pages: read a posted form, turn refusals into messages beside fields."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import ValidationError
from sqlalchemy.orm import Session

from coordinator.database import read_form
from coordinator.errors import AppError

FIELD_LABELS = {
    "count": "件数",
    "senders": "送信担当者数",
    "list_url": "リストURL",
    "script_id": "スクリプトID",
    "quantity": "メール送信申込数",
    "company_name": "会社名",
    "contact_name": "担当者名",
    "card_number": "カード番号",
    "reservation_id": "予約ID",
    "name": "スクリプト名",
    "body": "本文",
    "subject": "件名",
    "domain": "ドメイン",
}


async def form_values(request: Request) -> dict[str, str]:
    """The posted text fields (files and the CSRF token left out), as typed."""
    form = await read_form(request)
    values: dict[str, str] = {}
    for key, value in form.multi_items():
        if key == "csrf_token" or not isinstance(value, str):
            continue
        values[key] = value
    return values


def to_int(values: dict[str, str], name: str, label: str | None = None) -> int:
    """An integer form field, or an AppError beside that field (full-width digits accepted)."""
    import unicodedata

    raw = unicodedata.normalize("NFKC", values.get(name, "")).strip().replace(",", "")
    if not raw.lstrip("-").isdigit():
        label = label or FIELD_LABELS.get(name, name)
        raise AppError("invalid_number", f"{label}は半角数字で入力してください", field=name)
    return int(raw)


# What a form shows beside its fields instead of an error page: a rule's refusal, or input
# that does not fit the schema. Anything else is a fault and reaches the error handlers.
Refusal = (AppError, ValidationError)


def errors_of(exc: AppError | ValidationError) -> dict[str, str]:
    """``{field or "form": Japanese message}`` for an AppError or a pydantic ValidationError."""
    if isinstance(exc, AppError):
        return {exc.field or "form": exc.message}
    found: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        name = ".".join(loc) or "form"
        label = FIELD_LABELS.get(loc[-1] if loc else "", name)
        found.setdefault(name, f"{label}の入力内容が正しくありません")
    return found


def attempt(db: Session) -> Any:
    """A savepoint around one service call whose refusal re-renders the form: the call's
    flushed rows are undone with it, so the request commits nothing of the refused action."""
    return db.begin_nested()
