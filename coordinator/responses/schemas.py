from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class ResponseOut(BaseModel):
    """One received mail. ``text`` is plain text (HTML mail reduced to its text); the pages
    show it escaped, never as HTML."""

    id: int
    item_id: int
    reservation_id: int
    kind: str  # auto_reply | reply | bounce
    counted_as: str  # auto_reply | reply | refusal | bounce
    counted_as_ja: str  # 自動返信 | 返信 | お断り | 不達通知
    refusal: bool
    mail_from: str
    subject: str
    text: str
    message_id: str
    size: int
    received_at: datetime
    forwarded_at: datetime | None
    company: str  # the prospect the item was sent to
    domain: str


class ResponseCounts(BaseModel):
    """The reservation's 反響 counters and rates (docs/rules.md#responses): each rate a
    fraction in [0, 1], or null without a denominator."""

    attempted: int
    sent: int
    auto_replies: int
    replies: int
    refusals: int
    clicks: int
    rates: dict[str, float | None]


class ResponseList(BaseModel):
    reservation_id: int
    total: int
    page: int
    per_page: int
    counts: ResponseCounts
    responses: list[ResponseOut]
