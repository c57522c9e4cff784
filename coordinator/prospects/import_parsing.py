"""Parsing one record of a prospect CSV: its cells → the column values of a prospect (URL and
domain, prefecture, numbers, the search text and the fingerprint), or :class:`RowRejected`
with the reason the import report shows."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from coordinator.prospects.import_reading import CsvLayout
from coordinator.prospects.regions import normalize_prefecture
from shared.domains import normalize_domain
from shared.models import prospect_fingerprint, prospect_search_text

_MAX_LENGTH = {
    "company": 300, "company_kana": 300, "url": 1000, "industry": 100, "city": 100,
    "address": 300, "phone": 50, "tags": 500,
}  # fmt: skip
_NUMBER = re.compile(r"\d{1,18}")
_CORPORATE_NUMBER = re.compile(r"\d{13}")
_URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class RowRejected(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _number(name: str, label: str, value: str, *, suffixes: tuple[str, ...] = ()) -> int | None:
    if value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)  # the common case, without normalizing
    text_value = unicodedata.normalize("NFKC", value).strip().replace(",", "")
    for suffix in suffixes:
        text_value = text_value.removesuffix(suffix)
    if not text_value:
        return None
    if not _NUMBER.fullmatch(text_value):
        raise RowRejected(f"invalid_{name}", f"{label}が数値ではありません（{value[:30]}）")
    return int(text_value)


def _url_and_domain(value: str) -> tuple[str, str | None]:
    original = value.strip()
    if not original:
        return "", None
    bad = RowRejected("invalid_url", f"URLが正しくありません（{original[:60]}）")
    url = original
    if not _URL_SCHEME.match(url):
        host_part = url.split("/", 1)[0]
        if ":" in host_part and not re.fullmatch(r"[^:]+:\d{1,5}", host_part):
            raise bad  # mailto:, javascript: …
        url = "http://" + url
    elif not url.lower().startswith(("http://", "https://")):
        raise RowRejected(
            "invalid_url", f"URLは http または https で指定してください（{original[:60]}）"
        )
    domain = normalize_domain(url)
    if domain is None:
        raise bad
    return url, domain


def corporate_number(value: str) -> str | None:
    """A 法人番号 as 13 ASCII digits (full-width digits, spaces and hyphens allowed), None when
    empty, :class:`RowRejected` otherwise."""
    digits = "".join(ch for ch in unicodedata.normalize("NFKC", value) if ch not in " -")
    if not digits:
        return None
    if not _CORPORATE_NUMBER.fullmatch(digits):
        raise RowRejected("invalid_corporate_number", f"法人番号が正しくありません（{value[:20]}）")
    return digits


def parse_row(cells: list[str], layout: CsvLayout, founded_max: int) -> dict[str, Any]:
    """One CSV record → the column values of a prospect, or :class:`RowRejected`."""
    if len(cells) > layout.header_width and any(c.strip() for c in cells[layout.header_width :]):
        raise RowRejected("too_many_columns", "列の数が見出しより多くなっています")

    width = len(cells)

    def cell(name: str) -> str:
        index = layout.columns.get(name)
        if index is None or index >= width:
            return ""
        return cells[index].strip()

    values: dict[str, Any] = {}
    for name, limit in _MAX_LENGTH.items():
        value = cell(name)
        if len(value) > limit:
            raise RowRejected("too_long", f"{name} が長すぎます（{limit}文字まで）")
        values[name] = value
    if not values["company"]:
        raise RowRejected("missing_company", "会社名（company）がありません")
    values["url"], values["domain"] = _url_and_domain(values["url"])
    prefecture = normalize_prefecture(cell("prefecture"))
    if prefecture is None:
        raise RowRejected(
            "invalid_prefecture", f"都道府県が正しくありません（{cell('prefecture')[:20]}）"
        )
    values["prefecture"] = prefecture
    values["employees"] = _number("employees", "従業員数", cell("employees"), suffixes=("名", "人"))
    if values["employees"] is not None and values["employees"] > 2_000_000_000:
        raise RowRejected("invalid_employees", "従業員数が大きすぎます")
    values["capital"] = _number("capital", "資本金", cell("capital"), suffixes=("円",))
    founded = _number("founded", "設立年", cell("founded"), suffixes=("年",))
    if founded is not None and not 1000 <= founded <= founded_max:
        raise RowRejected("invalid_founded", f"設立年が正しくありません（{founded}）")
    values["founded"] = founded
    values["search_text"] = prospect_search_text(
        values["company"], values["company_kana"], values["industry"], values["city"]
    )
    values["corporate_number"] = corporate_number(cell("corporate_number"))
    values["closed_at"] = values["registry_updated"] = None
    values["fingerprint"] = (
        None
        if values["corporate_number"]
        else prospect_fingerprint(
            values["domain"],
            values["company"],
            prefecture,
            values["city"],
            values["address"],
            values["phone"],
        )
    )
    return values
