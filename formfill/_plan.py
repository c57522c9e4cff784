"""Fill plans: which value goes into which field (the values of fixtures/CONVENTIONS.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import jaconv

from formfill._dom import norm
from formfill._fields import PREFECTURES
from formfill._message import sender_name
from formfill._types import (
    FieldInfo,
    FieldValue,
    FillAction,
    FillPlan,
    FillVariant,
    FormInfo,
    OptionInfo,
    RenderedMessage,
    Role,
)

# 「選択してください」, 「--」, 「▼お選びください」: prompts, not choices. Anchored at the start so
# that 「その他（選択肢にない場合）」 stays a real option.
_PLACEHOLDER_OPTION = re.compile(
    r"^[-－ー―‐─=＝・▼▽*＊\s]*(?:(?:ご|お)?(?:選択|選ん|選び)|please|select|choose|未選択|指定なし|---|$)"
)
_OTHER_OPTION = re.compile(r"その他|そのほか|other")
_PROPOSAL_OPTION = re.compile(
    r"ご?提案|営業|協業|提携|パートナー|取引|業務|サービス|一般|お問い?合わ?せ|sales|partner|business|general|proposal"
)
_NEVER_FILLED: frozenset[Role] = frozenset({"honeypot", "captcha", "fax"})


def build_fill_plan(
    form: FormInfo,
    script: Mapping[str, Any],
    message: RenderedMessage,
    variant: FillVariant = FillVariant(),
) -> FillPlan:
    """The actions that fill ``form`` with the script, in document order, and the evidence.

    Honeypots, CAPTCHA boxes and fax are never touched. Consent boxes get a ``check`` on the
    input itself even when a custom style hides it behind its label: the driver sets
    ``checked`` by script and fires the events, which works whether or not the input is
    visible. Optional fields of unknown role are left alone; required ones get a harmless value.
    """
    sender: Mapping[str, Any] = script.get("sender") or {}
    roles = {f.role for f in form.fields}
    prefs = [str(p) for p in script.get("inquiry_type_preference") or []]
    actions: list[FillAction] = []
    evidence: list[FieldValue] = []
    for f in form.fields:
        if f.role in _NEVER_FILLED:
            continue
        if f.tag == "select":
            option = _choose_option(f, prefs, sender)
            if option is not None:
                actions.append(FillAction(f.selector, "select", option.value, f.role, f.name))
                evidence.append(FieldValue(f.name, f.role, option.value))
            continue
        if f.type in ("radio", "checkbox"):
            chosen = _choose_checks(f, prefs)
            for option in chosen:
                actions.append(
                    FillAction(option.selector or f.selector, "check", option.value, f.role, f.name)
                )
            if chosen:
                evidence.append(FieldValue(f.name, f.role, ",".join(o.value for o in chosen)))
            continue
        if not f.visible:
            continue
        value = _text_value(f, sender, message, roles, variant)
        if value is None:
            continue
        if f.maxlength and len(value) > f.maxlength and f.role not in ("message",):
            compact_value = value.replace(" ", "").replace("　", "")
            value = compact_value if len(compact_value) <= f.maxlength else value
        actions.append(FillAction(f.selector, "fill", value, f.role, f.name))
        evidence.append(FieldValue(f.name, f.role, value))
    # The postal code first: an address lookup (ajaxzip3, YubinBango) rewrites 都道府県 and 住所
    # a moment after it changes, so the rest is typed once that has happened.
    postal = [a for a in actions if a.role in ("postal_code", "postal_code_part")]
    settle_after = 0
    if postal and roles & {"prefecture", "city", "address", "address_full", "building"}:
        actions = postal + [a for a in actions if a.role not in ("postal_code", "postal_code_part")]
        settle_after = len(postal)
    next_selector = _next_step(form)
    return FillPlan(
        actions=tuple(actions),
        submit_selector=None if next_selector else form.submit_selector,
        field_map=tuple(evidence),
        settle_after=settle_after,
        next_selector=next_selector,
    )


_NEXT_STEP = re.compile(r"^(?:次へ|次に進む|次へ進む|つぎへ|進む|次のステップ|next|continue)")
_SENDS = re.compile(r"送信|確認|submit|send|confirm|申し?込")


def _next_step(form: FormInfo) -> str | None:
    """The 次へ button of a JS wizard: a button that posts nothing by itself, on a form whose
    later steps (fields still hidden) are yet to come."""
    text = norm(form.submit_text)
    if (
        form.submit_selector is None
        or form.submit_posts
        or not _NEXT_STEP.search(text)
        or _SENDS.search(text)
    ):
        return None
    later = [f for f in form.fields if not f.visible and f.role not in (*_NEVER_FILLED, "other")]
    return form.submit_selector if later else None


def _s(sender: Mapping[str, Any], key: str) -> str:
    return str(sender.get(key) or "").strip()


def _kana(text: str, f: FieldInfo, variant: FillVariant) -> str:
    script = variant.kana_script or ("hiragana" if "hiragana" in f.hints else "katakana")
    text = jaconv.hira2kata(text)
    if script == "hiragana":
        return jaconv.kata2hira(text)
    if "hankaku" in f.hints or (variant.hankaku and variant.kana_script is None):
        return str(jaconv.z2h(text, kana=True, ascii=False, digit=False))
    return text


def _zenkaku(f: FieldInfo, variant: FillVariant) -> bool:
    return ("zenkaku" in f.hints or variant.zenkaku) and not variant.hankaku


def _text_value(
    f: FieldInfo,
    sender: Mapping[str, Any],
    message: RenderedMessage,
    roles: set[Role],
    variant: FillVariant,
) -> str | None:
    role = f.role
    last, first = _s(sender, "last_name"), _s(sender, "first_name")
    last_kana, first_kana = _s(sender, "last_name_kana"), _s(sender, "first_name_kana")
    building = _s(sender, "building")
    simple = {
        "company": _s(sender, "company"),
        "department": _s(sender, "department"),
        "position": _s(sender, "position"),
        "last_name": last,
        "first_name": first,
        "email": _s(sender, "email"),
        "email_confirm": _s(sender, "email"),
        "city": _s(sender, "city"),
        "building": building,
        "url": _s(sender, "url"),
        "subject": message.subject,
        "message": message.body,
    }
    if role in simple:
        return simple[role] or None
    if role == "name":
        name = sender_name(sender)
        return name.replace(" ", "\u3000") if _zenkaku(f, variant) else name
    if role == "company_kana":
        return _kana(_s(sender, "company_kana"), f, variant) or None
    if role == "name_kana":
        return _kana(f"{last_kana} {first_kana}".strip(), f, variant) or None
    if role == "last_name_kana":
        return _kana(last_kana, f, variant) or None
    if role == "first_name_kana":
        return _kana(first_kana, f, variant) or None
    if role == "phone":
        return _phone(_s(sender, "phone"), f, variant)
    if role == "phone_part":
        return _part(_s(sender, "phone"), f, (2, 4, 4))
    if role == "postal_code":
        postal = _s(sender, "postal_code")
        if "no_hyphen" in f.hints or variant.postal_no_hyphen:
            postal = re.sub(r"\D", "", postal)
        return _width(postal, f, variant) or None
    if role == "postal_code_part":
        return _part(_s(sender, "postal_code"), f, (3, 4))
    if role == "prefecture":
        return _s(sender, "prefecture") or None
    if role in ("address", "address_full"):
        return _address(sender, roles, full=role == "address_full") or None
    if role == "inquiry_type":
        return None
    if role == "other" and f.required:
        if f.tag == "textarea":
            return message.body
        if f.type == "number":
            return "1"
        if f.type in ("date", "datetime-local", "time", "month", "week", "file", "color", "range"):
            return None
        return "特になし"
    del building
    return None


def _phone(phone: str, f: FieldInfo, variant: FillVariant) -> str | None:
    if not phone:
        return None
    if "no_hyphen" in f.hints or variant.phone_no_hyphen:
        phone = re.sub(r"\D", "", phone)
    return _width(phone, f, variant)


def _width(value: str, f: FieldInfo, variant: FillVariant) -> str:
    if _zenkaku(f, variant):
        return str(jaconv.h2z(value, kana=False, ascii=True, digit=True))
    return value


def _part(value: str, f: FieldInfo, widths: Sequence[int]) -> str | None:
    parts = [p for p in re.split(r"[-－ー‐\s]", value) if p]
    if len(parts) == 1:
        # A number written without hyphens: cut it in the usual widths.
        digits, parts = parts[0], []
        for w in widths[:-1]:
            parts.append(digits[:w])
            digits = digits[w:]
        parts.append(digits)
    if f.part is None:
        return value
    size = f.group_size or len(parts)
    if size < len(parts) and f.part == size - 1:
        # Two boxes for a three-part number: the last box takes the rest.
        return "".join(parts[f.part :])
    return parts[f.part] if f.part < len(parts) else None


def _address(sender: Mapping[str, Any], roles: set[Role], *, full: bool) -> str:
    pref, city, addr = _s(sender, "prefecture"), _s(sender, "city"), _s(sender, "address")
    building = _s(sender, "building")
    if full or ("city" not in roles and "prefecture" not in roles):
        value = pref + city + addr
    elif "city" in roles:
        value = addr
    else:
        value = city + addr
    if building and "building" not in roles:
        value = f"{value} {building}"
    return value


def _real_options(f: FieldInfo) -> list[OptionInfo]:
    return [
        o
        for o in f.options
        if not o.disabled
        and not (f.tag == "select" and (o.value == "" or _PLACEHOLDER_OPTION.search(norm(o.text))))
    ]


def _choose_option(f: FieldInfo, prefs: list[str], sender: Mapping[str, Any]) -> OptionInfo | None:
    options = _real_options(f)
    if not options:
        return None
    if f.role == "prefecture":
        pref = _s(sender, "prefecture")
        short = pref if pref == "北海道" else pref.rstrip("都府県")
        for o in options:
            if o.text.strip() in (pref, short) or o.value.strip() in (pref, short):
                return o
        for o in options:
            if pref and pref in o.text:
                return o
        return None
    if f.role == "inquiry_type":
        return _inquiry_choice(options, prefs, required=True)
    if f.role == "other" and f.required:
        return _inquiry_choice(options, [], required=True)
    return None


def _inquiry_choice(
    options: list[OptionInfo], prefs: list[str], *, required: bool
) -> OptionInfo | None:
    texts = [norm(o.text or o.value) for o in options]
    for pref in prefs:
        p = norm(pref)
        for o, t in zip(options, texts, strict=True):
            if t == p or norm(o.value) == p:
                return o
        for o, t in zip(options, texts, strict=True):
            if p and p in t:
                return o
    for pattern in (_OTHER_OPTION, _PROPOSAL_OPTION):
        for o, t in zip(options, texts, strict=True):
            if pattern.search(t):
                return o
    return options[0] if required else None


def _choose_checks(f: FieldInfo, prefs: list[str]) -> list[OptionInfo]:
    # An empty value is a list box's 「選択してください」 entry, never an answer.
    options = [o for o in f.options if not o.disabled and o.value != ""]
    if not options:
        return []
    if f.role == "consent":
        return options
    if f.role == "inquiry_type":
        choice = _inquiry_choice(options, prefs, required=True)
        return [choice] if choice else []
    if f.role == "other" and f.required:
        if f.type == "checkbox" and len(options) == 1:
            return options
        choice = _inquiry_choice(options, [], required=True)
        return [choice] if choice else []
    if f.role == "prefecture":
        for o in options:
            if o.text in PREFECTURES and o.text == "東京都":
                return [o]
    return []
