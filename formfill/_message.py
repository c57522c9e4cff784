"""Script rendering and validation (docs/rules.md#scripts)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from formfill._types import RenderedMessage

PLACEHOLDERS = ("company", "sender_company", "sender_name", "optout_url")
# ``[^{}]*`` stops at the next brace, so a scan costs time linear in the text; the name's spaces
# are stripped afterwards. (``\{\{\s*([^{}]*?)\s*\}\}`` backtracked cubically on "{{" and
# thousands of spaces: one script body held the process for minutes.)
_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")


def find_placeholders(text: str) -> list[tuple[str, str]]:
    """Every ``{{ name }}`` of ``text`` as (the whole token, the stripped name), in order."""
    return [(m.group(0), m.group(1).strip()) for m in _PLACEHOLDER.finditer(text)]


_REQUIRED_SENDER = (
    ("company", "会社名"),
    ("last_name", "姓"),
    ("first_name", "名"),
    ("email", "メールアドレス"),
    ("phone", "電話番号"),
)


def sender_name(sender: Mapping[str, Any]) -> str:
    """「山田 太郎」: family name, an ASCII space, given name (fixtures/CONVENTIONS.md)."""
    return " ".join(
        str(sender.get(k) or "").strip() for k in ("last_name", "first_name") if sender.get(k)
    )


def render_message(script: Mapping[str, Any], company: str, optout_url: str) -> RenderedMessage:
    """Render the script's subject and body for one prospect.

    ``{{company}}`` becomes the prospect's name, ``{{sender_company}}`` and ``{{sender_name}}``
    the sender's, ``{{optout_url}}`` the per-prospect opt-out link. The opt-out link is appended
    when the body forgot it: every message must carry one (docs/rules.md#opt-out-link).
    """
    sender = script.get("sender") or {}
    values = {
        "company": company,
        "sender_company": str(sender.get("company") or ""),
        "sender_name": sender_name(sender),
        "optout_url": optout_url,
    }

    def substitute(text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1).strip(), m.group(0)), text)

    body = substitute(str(script.get("body") or ""))
    if optout_url and optout_url not in body:
        body = f"{body.rstrip()}\n\n配信停止: {optout_url}"
    return RenderedMessage(subject=substitute(str(script.get("subject") or "")), body=body)


def validate_script(script: Mapping[str, Any]) -> list[str]:
    """The problems of a script, in Japanese, for the member who saves it (empty when valid)."""
    errors: list[str] = []
    sender = script.get("sender")
    if not isinstance(sender, Mapping):
        errors.append("送信者情報（sender）がありません")
        sender = {}
    for key, label in _REQUIRED_SENDER:
        if not str(sender.get(key) or "").strip():
            errors.append(f"送信者の{label}（sender.{key}）が未入力です")
    if not str(script.get("body") or "").strip():
        errors.append("本文（body）が未入力です")
    for field in ("subject", "body"):
        for token, name in find_placeholders(str(script.get(field) or "")):
            if name not in PLACEHOLDERS:
                allowed = "、".join("{{" + p + "}}" for p in PLACEHOLDERS)
                errors.append(f"不明な差し込み項目 {token} があります（使用可能: {allowed}）")
    prefs = script.get("inquiry_type_preference", [])
    if not isinstance(prefs, list) or not all(isinstance(p, str) for p in prefs):
        errors.append(
            "お問い合わせ種別の優先順（inquiry_type_preference）は文字列のリストにしてください"
        )
    return errors
