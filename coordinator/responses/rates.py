"""The 反響 rates of a reservation (or of one script of an A/B reservation), defined once
(docs/rules.md#responses): pure arithmetic over counters, so the detail page, the A/B
comparison, the results CSV and the operators' list all say the same number."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol


@dataclass(frozen=True)
class Counts:
    """What happened to a set of items. ``attempted`` = items whose visit tried to deliver the
    message: sent + failed + in_doubt (skipped and cancelled items were never tried)."""

    attempted: int
    sent: int
    auto_replies: int = 0
    replies: int = 0  # human replies other than refusals
    refusals: int = 0
    clicks: int = 0


@dataclass(frozen=True)
class Rates:
    """Each rate is a fraction in [0, 1], or None when its denominator is zero. The names are
    the words of shared.enums.ResponseRate (labels: shared.labels.RESPONSE_RATE)."""

    delivery_rate: float | None  # 到達率 = sent ÷ attempted
    auto_reply_rate: float | None  # 自動返信率 = auto-replies ÷ sent
    reply_rate: float | None  # 反応率 = replies (not auto-replies, not refusals) ÷ sent
    refusal_rate: float | None  # お断り率 = refusals ÷ sent
    click_rate: float | None  # クリック率 = items clicked ÷ sent

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole > 0 else None


def attempted(sent: int, failed: int, in_doubt: int) -> int:
    return sent + failed + in_doubt


def rates(c: Counts) -> Rates:
    return Rates(
        delivery_rate=_ratio(c.sent, c.attempted),
        auto_reply_rate=_ratio(c.auto_replies, c.sent),
        reply_rate=_ratio(c.replies, c.sent),
        refusal_rate=_ratio(c.refusals, c.sent),
        click_rate=_ratio(c.clicks, c.sent),
    )


def percent(rate: float | None) -> str:
    """A rate as the pages and the CSV show it: 「12.5%」, or 「-」 without a denominator."""
    return "-" if rate is None else f"{rate * 100:.1f}%"


class _Counted(Protocol):
    sent: int
    failed: int
    in_doubt: int
    auto_replies: int
    replies: int
    refusals: int
    clicks: int


def counts_of(row: _Counted) -> Counts:
    """The counts of a row that carries the counters (a reservation)."""
    return Counts(
        attempted=attempted(row.sent, row.failed, row.in_doubt),
        sent=row.sent,
        auto_replies=row.auto_replies,
        replies=row.replies,
        refusals=row.refusals,
        clicks=row.clicks,
    )


def of_reservation(row: _Counted) -> Rates:
    return rates(counts_of(row))
