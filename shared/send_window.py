"""送信時間帯: when a reservation may send, in Japan time (docs/rules.md#send-windows).

A window is ``{"days": [1-7, Monday = 1], "start": "HH:MM", "end": "HH:MM"}``; ``None`` means
any time. The hours are ``[start, end)`` of each chosen day; an ``end`` before ``start`` runs
past midnight into the next day (22:00–06:00 on a Friday covers the Saturday morning). The
dispatcher asks :func:`is_open`; the detail page shows :func:`next_opening` and :func:`describe`.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["DAY_LABELS", "TOKYO", "describe", "is_open", "next_opening", "normalize"]

TOKYO = ZoneInfo("Asia/Tokyo")
DAY_LABELS = {1: "月", 2: "火", 3: "水", 4: "木", 5: "金", 6: "土", 7: "日"}


def _clock(text: Any) -> time:
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":":
        raise ValueError("時刻は HH:MM で指定してください")
    hours, minutes = text.split(":")
    if not (hours.isdigit() and minutes.isdigit()):
        raise ValueError("時刻は HH:MM で指定してください")
    if hours == "24" and minutes == "00":
        return time(23, 59, 59, 999_999)  # the end of the day
    if not (0 <= int(hours) <= 23 and 0 <= int(minutes) <= 59):
        raise ValueError("時刻は 00:00〜24:00 で指定してください")
    return time(int(hours), int(minutes))


def normalize(window: dict[str, Any] | None) -> dict[str, Any] | None:
    """The window in its one stored form (days sorted, unique), or ``ValueError`` with the
    Japanese reason; ``None`` stays ``None`` (any time)."""
    if window is None:
        return None
    if not isinstance(window, dict) or set(window) != {"days", "start", "end"}:
        raise ValueError("送信時間帯は曜日・開始時刻・終了時刻で指定してください")
    days = window["days"]
    if not isinstance(days, list) or not days:
        raise ValueError("送信する曜日を1つ以上選んでください")
    if any(isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 7 for d in days):
        raise ValueError("曜日は1（月）〜7（日）で指定してください")
    start, end = _clock(window["start"]), _clock(window["end"])
    if start == end:
        raise ValueError("開始時刻と終了時刻が同じです")
    return {"days": sorted(set(days)), "start": window["start"], "end": window["end"]}


def _spans(window: dict[str, Any], day: datetime) -> tuple[datetime, datetime]:
    """The window's span that starts on ``day`` (a JST date at midnight)."""
    start, end = _clock(window["start"]), _clock(window["end"])
    opens = day.replace(hour=start.hour, minute=start.minute)
    closes = day.replace(hour=end.hour, minute=end.minute, second=end.second)
    if end < start:
        closes += timedelta(days=1)
    return opens, closes


def _days_around(now: datetime, back: int, ahead: int) -> list[datetime]:
    local = now.astimezone(TOKYO).replace(hour=0, minute=0, second=0, microsecond=0)
    return [local + timedelta(days=n) for n in range(-back, ahead + 1)]


def is_open(window: dict[str, Any] | None, now: datetime) -> bool:
    """True when a reservation with this window may send at ``now``."""
    if not window:
        return True
    for day in _days_around(now, 1, 0):
        if day.isoweekday() in window["days"]:
            opens, closes = _spans(window, day)
            if opens <= now < closes:
                return True
    return False


def next_opening(window: dict[str, Any] | None, now: datetime) -> datetime | None:
    """When the window next opens (JST), or ``None`` while it is open (or has none)."""
    if is_open(window, now) or not window:
        return None
    for day in _days_around(now, 0, 7):
        if day.isoweekday() in window["days"]:
            opens, _ = _spans(window, day)
            if opens > now:
                return opens
    return None


def describe(window: dict[str, Any] | None) -> str:
    """「月・火・水・木・金 09:00〜18:00」, or 「指定なし（いつでも）」."""
    if not window:
        return "指定なし（いつでも）"
    days = "・".join(DAY_LABELS[d] for d in window["days"])
    return f"{days} {window['start']}〜{window['end']}"
