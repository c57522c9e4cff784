from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictBool, StrictInt, model_validator


class SendWindow(BaseModel):
    """送信時間帯 in Japan time: the days (1 = Monday … 7 = Sunday) and [start, end) hours;
    an end before the start runs past midnight."""

    days: Annotated[list[StrictInt], Field(min_length=1, max_length=7)]
    start: Annotated[str, Field(pattern=r"^\d\d:\d\d$", examples=["09:00"])]
    end: Annotated[str, Field(pattern=r"^\d\d:\d\d$", examples=["18:00"])]


class ReservationCreate(BaseModel):
    count: StrictInt
    senders: StrictInt
    list_url: Annotated[str, Field(max_length=10_000)]
    # One script (script_id), or two for an A/B test (script_ids: [a, b]; items alternate).
    script_id: StrictInt | None = None
    script_ids: Annotated[list[StrictInt], Field(min_length=1, max_length=2)] | None = None
    # Omitted: the member's default; null: any time.
    send_window: SendWindow | None = None
    remember_send_window: StrictBool = False  # make this window the member's default

    @model_validator(mode="after")
    def _one_way_to_name_the_scripts(self) -> ReservationCreate:
        if self.script_ids is None and self.script_id is None:
            raise ValueError("script_id (or script_ids) is required")
        if self.script_ids and self.script_id is not None and self.script_id != self.script_ids[0]:
            raise ValueError("script_id and script_ids[0] differ")
        return self

    @property
    def script_a(self) -> int:
        return self.script_ids[0] if self.script_ids else self.script_id  # type: ignore[return-value]

    @property
    def script_b(self) -> int | None:
        return self.script_ids[1] if self.script_ids and len(self.script_ids) == 2 else None


class ReservationPatch(BaseModel):
    """Operators set ``senders``; the owning member sets ``script_id`` (while 申請中 or
    一時停止)."""

    senders: StrictInt | None = None
    script_id: StrictInt | None = None
    send_window: SendWindow | None = None  # null: any time


class PauseRequest(BaseModel):
    # 「現在のリストを送信担当者から削除しますか？」 はい → the queued items are removed.
    remove_list: StrictBool = False


class TransferCreate(BaseModel):
    list_url: Annotated[str, Field(max_length=10_000)]
    count: StrictInt
    script_id: StrictInt


class AdditionCreate(BaseModel):
    count: StrictInt


class StatusChangeOut(BaseModel):
    id: int
    from_status: str | None
    from_status_ja: str | None
    to_status: str
    to_status_ja: str
    actor_user_id: int | None
    actor_name: str  # 「システム」 for the automatic rules
    reason: str
    at: datetime


class AdditionOut(BaseModel):
    id: int
    reservation_id: int
    count: int
    status: str
    status_ja: str
    requested_by: int | None
    decided_by: int | None
    created_at: datetime
    decided_at: datetime | None


class TransferOut(BaseModel):
    id: int
    reservation_id: int
    list_url: str
    requested: int
    added: int
    created_at: datetime


class ReservationOut(BaseModel):
    id: int
    no: int
    member_id: int
    company_name: str
    contact_name: str  # the member's user who made it
    staff_name: str  # 担当者名: the operator who approved it, or 未割当
    status: str
    status_ja: str  # a system pause: システム確認中
    paused_by: str | None  # member | operator | system, while paused
    count: int
    sent: int
    remaining: int  # count − sent
    queued: int  # 収集中リスト数
    in_flight: int
    failed: int
    skipped: int
    in_doubt: int
    # 反響 (docs/rules.md#responses): items with an auto-reply, with a person's reply (not a
    # refusal), with a refusal, with a counted click; and the rates over them.
    auto_replies: int
    replies: int
    refusals: int
    clicks: int
    response_rates: dict[str, float | None]
    senders: int
    max_member_senders: int  # floor(count / 500), at least 1
    script_id: int
    script_b_id: int | None = None  # A/B: the second script, every other item
    send_window: dict[str, Any] | None
    send_window_ja: str
    next_window_at: datetime | None  # outside its window (not finished): when it opens next
    list_url: str
    list_notice_active: bool
    chat_messages: int
    created_at: datetime
    updated_at: datetime
    approved_at: datetime | None
    paused_at: datetime | None
    finished_at: datetime | None
    pending_additions: list[AdditionOut]
    history: list[StatusChangeOut] | None = None
    transfers: list[TransferOut] | None = None


class LiveCounters(BaseModel):
    """The counters of every row of a list page (``GET /reservations/live?ids=…``)."""

    reservations: list[dict[str, Any]]


class ReservationList(BaseModel):
    total: int
    page: int
    per_page: int
    reservations: list[ReservationOut]


class TransferResult(BaseModel):
    transfer: TransferOut
    reservation: ReservationOut


class PauseResult(BaseModel):
    removed: int
    reservation: ReservationOut


class ItemResult(BaseModel):
    id: int
    prospect_id: int
    company: str
    url: str
    domain: str
    state: str
    state_ja: str
    reason: str | None
    reason_ja: str | None
    attempts: int
    contact_url: str | None
    final_url: str | None
    dispatched_at: datetime | None
    finished_at: datetime | None
    evidence: dict[str, Any] | None
    evidence_links: list[str]


class ItemPage(BaseModel):
    total: int
    page: int
    per_page: int
    items: list[ItemResult]


class HistoryOut(BaseModel):
    reservation_id: int
    history: list[StatusChangeOut]
