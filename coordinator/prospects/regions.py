"""Prefecture names as members type them (東京 or 東京都) made the one spelling of the list.

The 47 names themselves, north to south, are the form engine's (``formfill.PREFECTURES``): the
worker picks them from forms' selects, the coordinator stores and searches them."""

from __future__ import annotations

import unicodedata

from formfill import PREFECTURES

_BY_SHORT_NAME = {name if name == "北海道" else name[:-1]: name for name in PREFECTURES}


def normalize_prefecture(text: str) -> str | None:
    """``"東京"`` or ``"東京都"`` → ``"東京都"``; ``""`` → ``""``; anything else → None."""
    value = unicodedata.normalize("NFKC", text).strip()
    if not value:
        return ""
    if value in PREFECTURES:
        return value
    return _BY_SHORT_NAME.get(value)
