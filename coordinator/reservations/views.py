"""Reservations as their readers see them: one reservation or a page of them with their
counters, pending additions, history and list transfers (the API's ``ReservationOut``), and
the operators' queue of additions to decide."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from coordinator.accounts import access
from coordinator.accounts.service import Principal
from coordinator.errors import AppError
from coordinator.reservations import repository
from coordinator.reservations.schemas import (
    AdditionOut,
    ReservationList,
    ReservationOut,
    StatusChangeOut,
    TransferOut,
)
from coordinator.reservations.service import visible
from coordinator.responses import rates
from shared import clock, events, labels, send_window
from shared.enums import RESERVATION_FINAL, AdditionStatus, ReservationStatus
from shared.models import ListTransfer, Reservation, ReservationAddition
from shared.rules import max_senders

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
PAGE_LIMIT = 300  # the pages list this many rows, newest first, without paging

SYSTEM_ACTOR = "システム"
UNASSIGNED = "未割当"  # 担当者名 of a reservation no operator has approved yet


def pending_additions(
    db: Session, operator: Principal, page: int = 1, per_page: int = DEFAULT_PER_PAGE
) -> list[AdditionOut]:
    page, per_page = paging(page, per_page)
    rows = repository.pending_additions_all(db, (page - 1) * per_page, per_page)
    return [addition_out(a) for a in rows]


def paging(page: int, per_page: int) -> tuple[int, int]:
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise AppError(
            "invalid_paging", f"ページは1以上、1ページの件数は1〜{MAX_PER_PAGE}件で指定してください"
        )
    return page, per_page


def status_ja(status: str) -> str:
    return labels.label(labels.RESERVATION_STATUS, status)


def addition_out(a: ReservationAddition) -> AdditionOut:
    return AdditionOut(
        id=a.id,
        reservation_id=a.reservation_id,
        count=a.count,
        status=a.status,
        status_ja=labels.label(labels.ADDITION_STATUS, a.status),
        requested_by=a.requested_by,
        decided_by=a.decided_by,
        created_at=a.created_at,
        decided_at=a.decided_at,
    )


def _history_out(db: Session, reservation_id: int) -> list[StatusChangeOut]:
    return [
        StatusChangeOut(
            id=change.id,
            from_status=change.from_status,
            from_status_ja=status_ja(change.from_status) if change.from_status else None,
            to_status=change.to_status,
            to_status_ja=status_ja(change.to_status),
            actor_user_id=change.actor_user_id,
            actor_name=(name or "") if change.actor_user_id is not None else SYSTEM_ACTOR,
            reason=change.reason,
            at=change.at,
        )
        for change, name in repository.history(db, reservation_id)
    ]


def transfer_out(t: ListTransfer) -> TransferOut:
    return TransferOut(
        id=t.id,
        reservation_id=t.reservation_id,
        list_url=t.list_query,
        requested=t.requested,
        added=t.added,
        created_at=t.created_at,
    )


def _outs(
    db: Session, rows: Sequence[Reservation], *, detail: bool = False
) -> list[ReservationOut]:
    ids = [r.id for r in rows]
    companies = repository.company_names(db, {r.member_id for r in rows})
    chats = repository.chat_counts(db, ids)
    staff = repository.approvers(db, ids)
    now = clock.now()
    pending: dict[int, list[AdditionOut]] = {}
    for a in repository.additions(db, ids, AdditionStatus.PENDING.value):
        pending.setdefault(a.reservation_id, []).append(addition_out(a))
    out = []
    for r in rows:
        item = ReservationOut(
            id=r.id,
            no=r.id,
            member_id=r.member_id,
            company_name=companies.get(r.member_id, ""),
            contact_name=r.contact_name,
            staff_name=staff.get(r.id) or UNASSIGNED,
            status=r.status,
            status_ja=labels.reservation_status(r.status, r.paused_by),
            paused_by=r.paused_by,
            count=r.count,
            sent=r.sent,
            remaining=max(0, r.count - r.sent),
            queued=r.queued,
            in_flight=r.in_flight,
            failed=r.failed,
            skipped=r.skipped,
            in_doubt=r.in_doubt,
            auto_replies=r.auto_replies,
            replies=r.replies,
            refusals=r.refusals,
            clicks=r.clicks,
            response_rates=rates.of_reservation(r).as_dict(),
            senders=r.senders,
            max_member_senders=max_senders(r.count),
            script_id=r.script_id,
            script_b_id=r.script_b_id,
            send_window=r.send_window,
            send_window_ja=send_window.describe(r.send_window),
            next_window_at=(
                send_window.next_opening(r.send_window, now)
                if r.status not in RESERVATION_FINAL
                else None
            ),
            list_url=r.list_query,
            list_notice_active=r.list_notice_active,
            chat_messages=chats.get(r.id, 0),
            created_at=r.created_at,
            updated_at=r.updated_at,
            approved_at=r.approved_at,
            paused_at=r.paused_at,
            finished_at=r.finished_at,
            pending_additions=pending.get(r.id, []),
        )
        if detail:
            item.history = _history_out(db, r.id)
            item.transfers = [transfer_out(t) for t in repository.transfers(db, r.id)]
        out.append(item)
    return out


def reservation_out(
    db: Session, reservation: Reservation, *, detail: bool = True
) -> ReservationOut:
    return _outs(db, [reservation], detail=detail)[0]


MAX_LIVE = 300  # rows of one page asked for at once


def live(db: Session, principal: Principal, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The live counters (as the event stream carries them) of the reservations among ``ids``
    that the principal may see: one request for every row of a list page."""
    if len(ids) > MAX_LIVE:
        raise AppError("too_many_ids", f"一度に指定できる予約は{MAX_LIVE}件までです", field="ids")
    scope = access.member_scope(principal)
    rows = repository.by_ids(db, set(ids))
    return [events.counters(r) for r in rows if scope is None or r.member_id == scope]


def get(
    db: Session, principal: Principal, reservation_id: int, *, detail: bool = True
) -> ReservationOut:
    return reservation_out(db, visible(db, principal, reservation_id), detail=detail)


def list_reservations(
    db: Session,
    principal: Principal,
    *,
    statuses: Sequence[str] = (),
    member_id: int | None = None,
    page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
    search: str = "",
) -> ReservationList:
    """A member's reservations (an operator: everybody's, or one member's), newest first;
    ``search``: a No or part of a company's or a person's name."""
    page, per_page = paging(page, per_page)
    for status in statuses:
        if status not in {s.value for s in ReservationStatus}:
            raise AppError(
                "invalid_filter", f"ステータス {status[:30]} はありません", field="status"
            )
    total, rows = repository.page(
        db,
        member_id=access.member_scope(principal, member_id),
        statuses=statuses,
        offset=(page - 1) * per_page,
        limit=per_page,
        search=search.strip()[:9] if search.strip().isdigit() else search.strip()[:100],
    )
    return ReservationList(total=total, page=page, per_page=per_page, reservations=_outs(db, rows))


def newest(
    db: Session, principal: Principal, *, statuses: Sequence[str] = (), limit: int = PAGE_LIMIT
) -> list[ReservationOut]:
    """The newest reservations this principal may see, in one piece (the pages' lists); a
    status that does not exist matches nothing."""
    _, rows = repository.page(
        db, member_id=access.member_scope(principal), statuses=statuses, offset=0, limit=limit
    )
    return _outs(db, rows)


def default_send_window(db: Session, principal: Principal) -> dict[str, Any] | None:
    """The member's default 送信時間帯 (offered on the reservation form)."""
    return repository.member(db, access.member_id_of(principal)).default_send_window


def additions(db: Session, principal: Principal, reservation_id: int) -> list[AdditionOut]:
    """Every request of 予約数を追加 of the reservation, decided or not, oldest first."""
    visible(db, principal, reservation_id)
    return [addition_out(a) for a in repository.additions(db, [reservation_id])]


@dataclass(frozen=True)
class AwaitingAddition:
    addition: AdditionOut
    reservation: ReservationOut


def awaiting_decision(db: Session, operator: Principal) -> list[AwaitingAddition]:
    """The additions operators have to decide, oldest first, each with its reservation."""
    rows = repository.pending_additions_all(db, 0, PAGE_LIMIT)
    reservations = {
        r.id: r for r in _outs(db, repository.by_ids(db, {a.reservation_id for a in rows}))
    }
    return [AwaitingAddition(addition_out(a), reservations[a.reservation_id]) for a in rows]


def history(db: Session, principal: Principal, reservation_id: int) -> list[StatusChangeOut]:
    visible(db, principal, reservation_id)
    return _history_out(db, reservation_id)
