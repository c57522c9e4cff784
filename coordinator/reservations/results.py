"""What a reservation sent: its items page by page, the results CSV and the evidence files
(screenshots) the worker left for each item."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from coordinator import csv_export
from coordinator.accounts import access
from coordinator.accounts.service import Principal
from coordinator.errors import AppError, NotFound
from coordinator.reservations import repository
from coordinator.reservations.schemas import ItemPage, ItemResult
from coordinator.reservations.service import visible
from coordinator.reservations.views import DEFAULT_PER_PAGE, paging
from coordinator.responses import repository as response_repository
from shared import labels
from shared.config import get_settings
from shared.enums import REASONS_BY_STATUS, ItemState, ResponseKind
from shared.evidence_store import content_type, get_store
from shared.models import SendItem

_REASONS = frozenset().union(*REASONS_BY_STATUS.values())
_EVIDENCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}$")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def _check_item_filters(state: str | None, reason: str | None) -> None:
    if state and state not in {s.value for s in ItemState}:
        raise AppError("invalid_filter", f"状態 {state[:30]} はありません", field="status")
    if reason and reason not in _REASONS:
        raise AppError("invalid_filter", f"理由 {reason[:30]} はありません", field="reason")


def evidence_dir(reservation_id: int, item_id: int) -> Path:
    """The folder of an item's files in the default (file) evidence store."""
    return Path(get_settings().var_dir) / "evidence" / str(reservation_id) / str(item_id)


def evidence_names(item: SendItem) -> list[str]:
    """The files the worker left for an item in the evidence store (whichever host wrote them),
    the names :func:`evidence_file` serves."""
    names = get_store().names(item.reservation_id, item.id)
    return [n for n in names if _EVIDENCE_NAME.match(n)]


def screenshots(item: SendItem) -> list[str]:
    """The item's evidence files that are images (the item page shows them)."""
    return [n for n in evidence_names(item) if n.lower().endswith(_IMAGE_SUFFIXES)]


def _evidence_links(item: SendItem) -> list[str]:
    return [
        f"/api/v1/reservations/{item.reservation_id}/items/{item.id}/evidence/{name}"
        for name in evidence_names(item)
    ]


TOKEN_MASK = "••••••••"


def _masked(value: Any, token: str) -> Any:
    if isinstance(value, str):
        return value.replace(token, TOKEN_MASK)
    if isinstance(value, list):
        return [_masked(v, token) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v, token) for k, v in value.items()}
    return value


def shown_evidence(principal: Principal, item: SendItem) -> dict[str, Any] | None:
    """The item's evidence as this principal may read it: a member sees the message that was
    sent with the prospect's opt-out token masked (whoever holds it can opt that company out
    for every member); operators see it whole."""
    if item.evidence is None or principal.is_operator or not item.optout_token:
        return item.evidence
    masked: dict[str, Any] = _masked(item.evidence, item.optout_token)
    return masked


def _item_out(principal: Principal, item: SendItem) -> ItemResult:
    return ItemResult(
        id=item.id,
        prospect_id=item.prospect_id,
        company=item.company,
        url=item.url,
        domain=item.domain,
        state=item.state,
        state_ja=labels.label(labels.ITEM_STATE, item.state),
        reason=item.reason,
        reason_ja=labels.label(labels.REASON, item.reason) if item.reason else None,
        attempts=item.attempts,
        contact_url=item.contact_url,
        final_url=item.final_url,
        dispatched_at=item.dispatched_at,
        finished_at=item.finished_at,
        evidence=shown_evidence(principal, item),
        evidence_links=_evidence_links(item),
    )


def items(
    db: Session,
    principal: Principal,
    reservation_id: int,
    *,
    state: str | None = None,
    reason: str | None = None,
    page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
    attempted_first: bool = False,
) -> ItemPage:
    """A page of the reservation's items (``attempted_first``: see ``repository.items_page``)."""
    visible(db, principal, reservation_id)
    _check_item_filters(state, reason)
    page, per_page = paging(page, per_page)
    total, rows = repository.items_page(
        db,
        reservation_id,
        state=state,
        reason=reason,
        offset=(page - 1) * per_page,
        limit=per_page,
        attempted_first=attempted_first,
    )
    return ItemPage(
        total=total, page=page, per_page=per_page, items=[_item_out(principal, i) for i in rows]
    )


CSV_BATCH = 1_000
# 反響 (docs/rules.md#responses): per item, the mails received of each counted kind.
RESPONSE_COLUMNS = (
    ResponseKind.AUTO_REPLY,
    ResponseKind.REPLY,
    ResponseKind.REFUSAL,
    ResponseKind.BOUNCE,
)
CSV_HEADER = (
    "ID",
    "会社名",
    "URL",
    "ステータス",
    "状態",
    "理由",
    "理由（表示）",
    "問い合わせページ",
    "最終URL",
    "試行回数",
    "完了日時",
    "スクリプトID",  # the script the item is sent with (A/B: docs/rules.md#ab-scripts)
    *(labels.label(labels.RESPONSE_KIND, kind) for kind in RESPONSE_COLUMNS),
    "クリック",  # 1 when a person followed a link of the message (track_clicks)
)


def items_csv(
    db: Session,
    principal: Principal,
    reservation_id: int,
    *,
    state: str | None = None,
    reason: str | None = None,
) -> StreamingResponse:
    """The reservation's results (filtered like the page) as a streamed CSV download."""
    script_a = visible(db, principal, reservation_id).script_id
    _check_item_filters(state, reason)

    def row(item: SendItem, counted: dict[str, int]) -> tuple[object, ...]:
        return (
            item.id,
            item.company,
            item.url,
            item.state,
            labels.label(labels.ITEM_STATE, item.state),
            item.reason or "",
            labels.label(labels.REASON, item.reason),
            item.contact_url or "",
            item.final_url or "",
            item.attempts,
            item.finished_at.isoformat() if item.finished_at else "",
            item.script_id or script_a,
            *(counted.get(word, 0) for word in RESPONSE_COLUMNS),
            1 if item.first_click_at else 0,
        )

    def batches() -> Iterator[list[tuple[object, ...]]]:
        batch: list[SendItem] = []
        for item in repository.iter_items(db, reservation_id, state=state, reason=reason):
            batch.append(item)
            if len(batch) == CSV_BATCH:
                yield _rows(batch)
                batch = []
        yield _rows(batch)

    def _rows(batch: list[SendItem]) -> list[tuple[object, ...]]:
        counted = response_repository.counted_by_item(db, [i.id for i in batch])
        return [row(i, counted.get(i.id, {})) for i in batch]

    return csv_export.response(CSV_HEADER, batches(), f"reservation-{reservation_id}-results.csv")


def item(db: Session, principal: Principal, item_id: int) -> SendItem:
    """One item (a send) by its id, if this principal may see its reservation's rows."""
    return access.visible(principal, repository.item(db, item_id), "送信結果")


def evidence_file(
    db: Session, principal: Principal, reservation_id: int, item_id: int, name: str
) -> Response:
    """One of an item's evidence files, from the evidence store, for whoever may see its
    reservation."""
    visible(db, principal, reservation_id)
    if repository.item_of(db, reservation_id, item_id) is None or not _EVIDENCE_NAME.match(name):
        raise NotFound("証跡")
    body = get_store().read(reservation_id, item_id, name)
    if body is None:
        raise NotFound("証跡")
    return Response(body, media_type=content_type(name))
