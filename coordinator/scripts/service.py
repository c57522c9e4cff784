"""Scripts (docs/rules.md#scripts): the sender profile and the message, validated and
normalized on save.

Every saved body carries the opt-out link (docs/rules.md#opt-out-link): if the member left
``{{optout_url}}`` out, a line with it is appended. Rendering and the generic checks are the
form engine's (:func:`formfill.render_message`, :func:`formfill.validate_script`), so the
preview shows exactly what the workers will type.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import jaconv
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

import formfill
from coordinator.accounts import access
from coordinator.accounts.service import Principal
from coordinator.errors import NotFound
from coordinator.prospects.regions import normalize_prefecture
from coordinator.scripts import errors, repository
from coordinator.scripts.schemas import ScriptIn, ScriptPatch
from formfill import PLACEHOLDERS, find_placeholders
from shared import clock
from shared.config import get_settings
from shared.models import Prospect, Script

OPTOUT_LINE = "※今後このようなご案内が不要な場合は、こちらから配信停止できます: {{optout_url}}"
PREVIEW_COMPANY = "株式会社サンプル"

_REQUIRED = (
    ("name", "スクリプト名"),
    ("sender.company", "会社名"),
    ("sender.last_name", "姓"),
    ("sender.first_name", "名"),
    ("sender.email", "メールアドレス"),
    ("sender.phone", "電話番号"),
    ("subject", "件名"),
    ("body", "本文"),
)
_KANA_FIELDS = (
    ("company_kana", "会社名（カナ）"),
    ("last_name_kana", "セイ"),
    ("first_name_kana", "メイ"),
)
_KANA = re.compile(r"^[\u3041-\u3096\u309D\u309E\u30A1-\u30FA\u30FC-\u30FE・ 　]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9\-() ]*[0-9]$")
_POSTAL = re.compile(r"^[0-9]{3}-?[0-9]{4}$")


def script_label(script: Script) -> str:
    """「7 : 顧客獲得スクリプト」 — the ID and name, as the reservation form lists scripts."""
    return f"{script.id} : {script.name}"


# --- validation and normalization ---------------------------------------------------------------


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def normalize(content: dict[str, Any]) -> dict[str, Any]:
    """Trim every value; half-width kana → full-width; full-width digits in phone, postal code,
    e-mail and URL → ASCII; 「東京」 → 「東京都」."""
    sender = {k: (v or "").strip() for k, v in dict(content.get("sender") or {}).items()}
    for key, _label in _KANA_FIELDS:
        sender[key] = jaconv.h2z(sender.get(key, ""), kana=True, ascii=False, digit=False)
    for key in ("email", "phone", "postal_code", "url"):
        sender[key] = _nfkc(sender.get(key, ""))
    prefecture = normalize_prefecture(sender.get("prefecture", ""))
    if prefecture is not None:
        sender["prefecture"] = prefecture
    return {
        "name": str(content.get("name") or "").strip(),
        "sender": sender,
        "subject": str(content.get("subject") or "").strip(),
        "body": str(content.get("body") or "").replace("\r\n", "\n").strip("\n"),
        "inquiry_type_preference": [
            p.strip() for p in content.get("inquiry_type_preference") or [] if p.strip()
        ],
        "capture_replies": content.get("capture_replies") is True,
        "track_clicks": content.get("track_clicks") is True,
    }


def _value(content: dict[str, Any], path: str) -> str:
    if path.startswith("sender."):
        return str(content["sender"].get(path[7:], ""))
    return str(content.get(path, ""))


def check_placeholders(field: str, text: str) -> None:
    allowed = "、".join("{{" + p + "}}" for p in PLACEHOLDERS)
    for token, name in find_placeholders(text):
        if name not in PLACEHOLDERS:
            raise errors.unknown_placeholder(field, token, allowed)
    rest = text
    for token, _name in find_placeholders(text):
        rest = rest.replace(token, "", 1)
    if "{{" in rest or "}}" in rest:
        raise errors.malformed_placeholder(field)


def validate(content: dict[str, Any]) -> None:
    """Raise the first problem of a normalized script as an AppError naming its field."""
    for path, label in _REQUIRED:
        if not _value(content, path):
            raise errors.required(path, label)
    sender = content["sender"]
    try:
        validate_email(sender["email"], check_deliverability=False)
    except EmailNotValidError:
        raise errors.invalid(
            "invalid_email", "sender.email", "メールアドレスの形式が正しくありません"
        ) from None
    phone_digits = re.sub(r"\D", "", sender["phone"])
    if not _PHONE.match(sender["phone"]) or not 10 <= len(phone_digits) <= 13:
        raise errors.invalid(
            "invalid_phone",
            "sender.phone",
            "電話番号は 03-1234-5678 のように数字とハイフンで入力してください",
        )
    if sender.get("postal_code") and not _POSTAL.match(sender["postal_code"]):
        raise errors.invalid(
            "invalid_postal_code",
            "sender.postal_code",
            "郵便番号は 100-0001 のように7桁で入力してください",
        )
    if sender.get("prefecture") and normalize_prefecture(sender["prefecture"]) is None:
        raise errors.invalid(
            "invalid_prefecture",
            "sender.prefecture",
            "都道府県は「東京都」のように正しく入力してください",
        )
    if sender.get("url"):
        parts = urlsplit(sender["url"])
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise errors.invalid(
                "invalid_url", "sender.url", "URLは https:// から始まる形式で入力してください"
            )
    for key, label in _KANA_FIELDS:
        if sender.get(key) and not _KANA.match(sender[key]):
            raise errors.invalid(
                "invalid_kana",
                f"sender.{key}",
                f"{label}はカタカナまたはひらがなで入力してください",
            )
    check_placeholders("subject", content["subject"])
    check_placeholders("body", content["body"])
    problems = formfill.validate_script(content)
    if problems:
        raise errors.invalid_script(problems)


def with_optout_link(body: str) -> str:
    if any(name == "optout_url" for _token, name in find_placeholders(body)):
        return body
    return f"{body.rstrip()}\n\n{OPTOUT_LINE}"


def _prepare(content: dict[str, Any]) -> dict[str, Any]:
    content = normalize(content)
    validate(content)
    content["body"] = with_optout_link(content["body"])
    return content


# --- CRUD -----------------------------------------------------------------------------------


def create(db: Session, principal: Principal, data: ScriptIn) -> Script:
    assert principal.member_id is not None
    content = _prepare(data.model_dump())
    now = clock.now()
    script = Script(
        member_id=principal.member_id,
        name=content["name"],
        content=content,
        created_at=now,
        updated_at=now,
    )
    db.add(script)
    db.flush()
    return script


def list_for(db: Session, principal: Principal, member_id: int | None = None) -> Sequence[Script]:
    return repository.live(db, access.member_scope(principal, member_id))


def get_visible(db: Session, principal: Principal, script_id: int) -> Script:
    """A script the principal may read: its member's own, or any for an operator."""
    return access.visible(principal, repository.live_one(db, script_id), "スクリプト")


def of_reservation(db: Session, principal: Principal, script_id: int) -> Script | None:
    """The script a reservation sends with, even if hidden since (None if not visible)."""
    script = repository.any_one(db, script_id)
    return script if script and access.may_see(principal, script.member_id) else None


def get_owned(db: Session, principal: Principal, script_id: int) -> Script:
    """The principal's member's own live script (what it may edit), else NotFound."""
    return access.own(principal, repository.live_one(db, script_id), "スクリプト")


def update(db: Session, principal: Principal, script_id: int, patch: ScriptPatch) -> Script:
    """Edit a script. Refused while an approved reservation sends with it: messages must not
    change mid-flight (docs/rules.md#scripts); pause the reservation first."""
    script = get_owned(db, principal, script_id)
    sending = repository.sending_reservations_using(db, script.id)
    if sending:
        raise errors.script_sending(sending)
    content = dict(script.content)
    changes = patch.model_dump(exclude_unset=True, exclude_none=True)
    sender_changes = changes.pop("sender", None)
    if sender_changes:
        content["sender"] = {**content.get("sender", {}), **sender_changes}
    content.update(changes)
    content = _prepare(content)
    script.content = content
    script.name = content["name"]
    script.updated_at = clock.now()
    db.flush()
    return script


def delete(db: Session, principal: Principal, script_id: int) -> None:
    """Hide a script. Refused while an open reservation sends with it."""
    script = get_owned(db, principal, script_id)
    in_use = repository.open_reservations_using(db, script.id)
    if in_use:
        raise errors.script_in_use(in_use)
    script.deleted_at = clock.now()
    db.flush()


def preview(
    db: Session, principal: Principal, script_id: int, prospect_id: int | None
) -> tuple[Script, str, str, formfill.RenderedMessage]:
    """The message as one prospect would receive it (with a sample opt-out link)."""
    script = get_visible(db, principal, script_id)
    company = PREVIEW_COMPANY
    if prospect_id is not None:
        prospect = db.get(Prospect, prospect_id)
        if prospect is None:
            raise NotFound("見込客")
        company = prospect.company
    optout_url = f"{get_settings().public_base_url.rstrip('/')}/optout/preview"
    return script, company, optout_url, formfill.render_message(script.content, company, optout_url)
