from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from coordinator.dependencies import DB, CurrentUser, Member, Operator
from coordinator.reservations import results, service, views
from coordinator.reservations.schemas import (
    AdditionCreate,
    AdditionOut,
    HistoryOut,
    ItemPage,
    LiveCounters,
    PauseRequest,
    PauseResult,
    ReservationCreate,
    ReservationList,
    ReservationOut,
    ReservationPatch,
    TransferCreate,
    TransferResult,
)

router = APIRouter(prefix="/api/v1", tags=["reservations"])


@router.post("/reservations", response_model=ReservationOut, status_code=201)
def create_reservation(body: ReservationCreate, member: Member, db: DB) -> ReservationOut:
    reservation = service.create(
        db,
        member,
        count=body.count,
        senders=body.senders,
        list_url=body.list_url,
        script_id=body.script_a,
        script_b_id=body.script_b,
        send_window=body.send_window.model_dump() if body.send_window else None,
        window_given="send_window" in body.model_fields_set,
        remember_window=body.remember_send_window,
    )
    return views.reservation_out(db, reservation)


@router.get("/reservations", response_model=ReservationList)
def list_reservations(
    user: CurrentUser,
    db: DB,
    status: Annotated[list[str] | None, Query()] = None,
    member_id: Annotated[int | None, Query(description="operators: one member")] = None,
    page: int = 1,
    per_page: int = views.DEFAULT_PER_PAGE,
    q: Annotated[str, Query(max_length=100, description="a No, or part of a name")] = "",
) -> ReservationList:
    return views.list_reservations(
        db, user, statuses=status or [], member_id=member_id, page=page, per_page=per_page, search=q
    )


@router.get("/reservations/live", response_model=LiveCounters)
def live_counters(
    user: CurrentUser,
    db: DB,
    ids: Annotated[list[int], Query(description="the rows of the page")],
) -> LiveCounters:
    """One request for the live counters of every row of a list page (instead of a stream
    per row); rows the caller may not see are left out."""
    return LiveCounters(reservations=views.live(db, user, ids))


@router.get("/reservations/{reservation_id}", response_model=ReservationOut)
def get_reservation(reservation_id: int, user: CurrentUser, db: DB) -> ReservationOut:
    return views.get(db, user, reservation_id)


@router.patch("/reservations/{reservation_id}", response_model=ReservationOut)
def update_reservation(
    reservation_id: int, body: ReservationPatch, user: CurrentUser, db: DB
) -> ReservationOut:
    reservation = service.update(db, user, reservation_id, body.model_dump(exclude_unset=True))
    return views.reservation_out(db, reservation)


@router.post("/reservations/{reservation_id}/approve", response_model=ReservationOut)
def approve_reservation(reservation_id: int, operator: Operator, db: DB) -> ReservationOut:
    return views.reservation_out(db, service.approve(db, operator, reservation_id))


@router.post("/reservations/{reservation_id}/pause", response_model=PauseResult)
def pause_reservation(
    reservation_id: int,
    user: CurrentUser,
    db: DB,
    body: Annotated[PauseRequest | None, Body()] = None,
) -> PauseResult:
    reservation, removed = service.pause(
        db, user, reservation_id, remove_list=bool(body and body.remove_list)
    )
    return PauseResult(removed=removed, reservation=views.reservation_out(db, reservation))


@router.post("/reservations/{reservation_id}/resume", response_model=ReservationOut)
def resume_reservation(reservation_id: int, user: CurrentUser, db: DB) -> ReservationOut:
    return views.reservation_out(db, service.resume(db, user, reservation_id))


@router.post("/reservations/{reservation_id}/cancel", response_model=ReservationOut)
def cancel_reservation(reservation_id: int, user: CurrentUser, db: DB) -> ReservationOut:
    return views.reservation_out(db, service.cancel(db, user, reservation_id))


@router.post(
    "/reservations/{reservation_id}/transfers", response_model=TransferResult, status_code=201
)
def create_transfer(
    reservation_id: int, body: TransferCreate, user: CurrentUser, db: DB
) -> TransferResult:
    row = service.transfer(
        db,
        user,
        reservation_id,
        list_url=body.list_url,
        count=body.count,
        script_id=body.script_id,
    )
    reservation = service.visible(db, user, reservation_id)
    return TransferResult(
        transfer=views.transfer_out(row), reservation=views.reservation_out(db, reservation)
    )


@router.post(
    "/reservations/{reservation_id}/additions", response_model=AdditionOut, status_code=201
)
def request_addition(
    reservation_id: int, body: AdditionCreate, member: Member, db: DB
) -> AdditionOut:
    return views.addition_out(service.request_addition(db, member, reservation_id, body.count))


@router.get("/additions", response_model=list[AdditionOut])
def pending_additions(
    operator: Operator, db: DB, page: int = 1, per_page: int = views.DEFAULT_PER_PAGE
) -> list[AdditionOut]:
    return views.pending_additions(db, operator, page, per_page)


@router.post("/additions/{addition_id}/approve", response_model=AdditionOut)
def approve_addition(addition_id: int, operator: Operator, db: DB) -> AdditionOut:
    return views.addition_out(service.approve_addition(db, operator, addition_id))


@router.post("/additions/{addition_id}/reject", response_model=AdditionOut)
def reject_addition(addition_id: int, operator: Operator, db: DB) -> AdditionOut:
    return views.addition_out(service.reject_addition(db, operator, addition_id))


@router.get("/reservations/{reservation_id}/history", response_model=HistoryOut)
def reservation_history(reservation_id: int, user: CurrentUser, db: DB) -> HistoryOut:
    return HistoryOut(
        reservation_id=reservation_id, history=views.history(db, user, reservation_id)
    )


@router.get("/reservations/{reservation_id}/items", response_model=ItemPage)
def reservation_items(
    reservation_id: int,
    user: CurrentUser,
    db: DB,
    status: str | None = None,
    reason: str | None = None,
    page: int = 1,
    per_page: int = views.DEFAULT_PER_PAGE,
) -> ItemPage:
    return results.items(
        db, user, reservation_id, state=status, reason=reason, page=page, per_page=per_page
    )


@router.get("/reservations/{reservation_id}/items.csv")
def reservation_items_csv(
    reservation_id: int,
    user: CurrentUser,
    db: DB,
    status: str | None = None,
    reason: str | None = None,
) -> Response:
    return results.items_csv(db, user, reservation_id, state=status, reason=reason)


@router.get("/reservations/{reservation_id}/items/{item_id}/evidence/{name}")
def item_evidence(
    reservation_id: int, item_id: int, name: str, user: CurrentUser, db: DB
) -> Response:
    return results.evidence_file(db, user, reservation_id, item_id, name)
