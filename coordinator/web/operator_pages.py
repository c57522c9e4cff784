"""Operator pages: approvals, senders, fleet, in-doubt review, suppression, imports, payments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from coordinator.accounts import service as accounts
from coordinator.chat import service as chat
from coordinator.database import read_form
from coordinator.errors import AppError
from coordinator.fleet import service as fleet
from coordinator.fleet.schemas import ResolveRequest
from coordinator.prospects import service as prospects
from coordinator.prospects import upload
from coordinator.prospects.router import get_import_runner
from coordinator.reservations import service as reservations
from coordinator.reservations import views as reservation_views
from coordinator.suppression import service as suppression
from coordinator.tickets import payments
from coordinator.tickets import service as tickets
from coordinator.tickets.gateway import PaymentGateway, get_gateway
from coordinator.web.forms import Refusal, attempt, errors_of, form_values, to_int
from coordinator.web.links import see_other
from coordinator.web.rendering import render
from coordinator.web.session import WebDB, WebOperator, WebRoute
from shared import clock, fleet_control, labels
from shared.config import get_settings
from shared.enums import ReservationStatus
from shared.suppression import SuppressionReason

router = APIRouter(prefix="/operator", route_class=WebRoute)

IN_DOUBT_LIMIT = 200  # rows of one page
SUPPRESSION_PER_PAGE = 200
IMPORT_JOBS_SHOWN = 20

# The reasons an operator may pick on the page (manual entries through the API say "manual").
SUPPRESSION_REASONS = [
    (reason, labels.SUPPRESSION_REASON[reason])
    for reason in (
        SuppressionReason.OPTOUT,
        SuppressionReason.REFUSED_SALES,
        SuppressionReason.COMPLAINT,
        SuppressionReason.NG,
    )
]


@router.get("")
def approvals_page(request: Request, db: WebDB, user: WebOperator) -> Response:
    return render(
        request,
        "operator/approvals.html",
        user,
        {
            "pending": reservation_views.newest(db, user, statuses=[ReservationStatus.PENDING]),
            "additions": reservation_views.awaiting_decision(db, user),
            "awaiting_orders": tickets.awaiting_payment(db),
        },
    )


RESERVATIONS_PER_PAGE = 100


@router.get("/reservations")
def reservations_page(
    request: Request, db: WebDB, user: WebOperator, status: str = "", q: str = "", page: int = 1
) -> Response:
    statuses = [status] if status in labels.RESERVATION_STATUS else []
    listing = reservation_views.list_reservations(
        db, user, statuses=statuses, page=max(1, page), per_page=RESERVATIONS_PER_PAGE, search=q
    )
    query = "&".join(f"{k}={quote(v)}" for k, v in (("status", status), ("q", q)) if v)
    return render(
        request,
        "operator/reservations.html",
        user,
        {
            "rows": listing.reservations,
            "total": listing.total,
            "page": listing.page,
            "per_page": listing.per_page,
            "pager_base": "/operator/reservations?" + (query + "&" if query else ""),
            "status": status,
            "q": q,
            "statuses": list(labels.RESERVATION_STATUS.items()),
        },
    )


def _reservation_page(
    request: Request,
    db: WebDB,
    user: Any,
    reservation_id: int,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "operator/reservation.html",
        user,
        {
            "r": reservation_views.get(db, user, reservation_id),
            "fleet_max": get_settings().fleet_max_senders,
            "values": values or {},
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("/reservations/{reservation_id}")
def reservation_page(
    request: Request, db: WebDB, user: WebOperator, reservation_id: int
) -> Response:
    return _reservation_page(request, db, user, reservation_id)


@router.post("/reservations/{reservation_id}/approve")
def approve(db: WebDB, user: WebOperator, reservation_id: int) -> Response:
    reservations.approve(db, user, reservation_id)
    return see_other("/operator", "approved")


@router.post("/reservations/{reservation_id}/senders")
async def change_senders(
    request: Request, db: WebDB, user: WebOperator, reservation_id: int
) -> Response:
    values = await form_values(request)
    try:
        with attempt(db):
            reservations.set_senders(db, user, reservation_id, senders=to_int(values, "senders"))
    except Refusal as exc:
        return _reservation_page(
            request, db, user, reservation_id, values, errors_of(exc), status_code=400
        )
    return see_other(f"/operator/reservations/{reservation_id}", "senders_changed")


@router.post("/additions/{addition_id}/approve")
def approve_addition(db: WebDB, user: WebOperator, addition_id: int) -> Response:
    reservations.approve_addition(db, user, addition_id)
    return see_other("/operator", "approved")


@router.post("/additions/{addition_id}/reject")
def reject_addition(db: WebDB, user: WebOperator, addition_id: int) -> Response:
    reservations.reject_addition(db, user, addition_id)
    return see_other("/operator", "rejected")


@router.get("/chats")
def chats_page(request: Request, db: WebDB, user: WebOperator) -> Response:
    return render(request, "operator/chats.html", user, {"threads": chat.threads(db, user)})


# --- fleet ------------------------------------------------------------------------------------


@router.get("/fleet")
def fleet_page(request: Request, db: WebDB, user: WebOperator) -> Response:
    workers = fleet.workers(db)
    stale_before = clock.now() - timedelta(seconds=30)
    return render(
        request,
        "operator/fleet.html",
        user,
        {
            "workers": workers,
            "stale_before": stale_before,
            "live_workers": sum(1 for w in workers if w.heartbeat_at >= stale_before),
            # The fleet's capacity: the browser slots its live processes offer, and in use now.
            "slots_offered": sum(w.slots for w in workers if w.heartbeat_at >= stale_before),
            "slots_in_use": sum(w.slots_in_use for w in workers if w.heartbeat_at >= stale_before),
            "running_reservations": len(
                reservation_views.newest(db, user, statuses=[ReservationStatus.APPROVED])
            ),
            "series": fleet.sends_per_minute(db),
            "outcomes": fleet.outcomes(db),
            "services": fleet.services(db),
            "hosts": fleet.host_states(db),
        },
    )


@router.post("/fleet/hosts/{host}/{action}")
def fleet_host_action(user: WebOperator, host: str, action: str) -> Response:
    if action not in fleet_control.ACTIONS:
        raise AppError("unknown_action", "その操作はできません", status_code=404)
    fleet.set_host_state(user, host, fleet_control.ACTIONS[action])
    return see_other("/operator/fleet", f"host_{action}")


@router.post("/fleet/stop-all")
def fleet_stop_all(db: WebDB, user: WebOperator) -> Response:
    with attempt(db):
        fleet.stop_all(db, user)
    return see_other("/operator/fleet", "stopped_all")


@router.get("/in-doubt")
def in_doubt_page(request: Request, db: WebDB, user: WebOperator, page: int = 1) -> Response:
    page = max(1, page)
    listing = fleet.in_doubt(db, limit=IN_DOUBT_LIMIT, offset=(page - 1) * IN_DOUBT_LIMIT)
    return render(
        request,
        "operator/in_doubt.html",
        user,
        {"items": listing.items, "total": listing.total, "page": page, "per_page": IN_DOUBT_LIMIT},
    )


@router.post("/in-doubt/{item_id}")
async def resolve_in_doubt(
    request: Request, db: WebDB, user: WebOperator, item_id: int
) -> Response:
    values = await form_values(request)
    try:
        body = ResolveRequest(status=values.get("outcome", ""), note=values.get("note", ""))  # type: ignore[arg-type]
    except ValidationError:
        raise AppError(
            "invalid_outcome", "判定は「送信済み」か「未送信」を選んでください"
        ) from None
    fleet.resolve(db, user, item_id, body)
    return see_other("/operator/in-doubt", "resolved")


# --- suppression ------------------------------------------------------------------------------


def _suppression_page(
    request: Request,
    db: WebDB,
    user: Any,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    q: str = "",
    page: int = 1,
) -> Response:
    members = accounts.members(db)
    page = max(1, page)
    total, rows = suppression.every_entry(
        db, contains=q, limit=SUPPRESSION_PER_PAGE, offset=(page - 1) * SUPPRESSION_PER_PAGE
    )
    return render(
        request,
        "operator/suppression.html",
        user,
        {
            "rows": rows,
            "total": total,
            "q": q,
            "page": page,
            "per_page": SUPPRESSION_PER_PAGE,
            "members": members,
            "member_names": {m.id: m.company_name for m in members},
            "reasons": SUPPRESSION_REASONS,
            "values": values or {},
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("/suppression")
def suppression_page(
    request: Request, db: WebDB, user: WebOperator, q: str = "", page: int = 1
) -> Response:
    return _suppression_page(request, db, user, q=q, page=page)


@router.post("/suppression")
async def suppression_add(request: Request, db: WebDB, user: WebOperator) -> Response:
    values = await form_values(request)
    member_id = int(values["member_id"]) if values.get("member_id", "").isdigit() else None
    try:
        with attempt(db):
            suppression.add(
                db,
                values.get("domain", ""),
                reason=values.get("reason", SuppressionReason.NG),
                member_id=member_id,
                note=values.get("note", ""),
            )
    except AppError as exc:
        return _suppression_page(request, db, user, values, errors_of(exc), status_code=400)
    return see_other("/operator/suppression", "suppressed")


@router.post("/suppression/delete")
async def suppression_delete(request: Request, db: WebDB, user: WebOperator) -> Response:
    values = await form_values(request)
    member_id = int(values["member_id"]) if values.get("member_id", "").isdigit() else None
    suppression.remove(db, values.get("domain", ""), member_id=member_id)
    return see_other("/operator/suppression", "unsuppressed")


# --- prospect CSV import -------------------------------------------------------------------------


@router.get("/prospects/import")
def import_page(request: Request, db: WebDB, user: WebOperator) -> Response:
    return render(
        request,
        "operator/import.html",
        user,
        {
            "jobs": prospects.list_imports(db, IMPORT_JOBS_SHOWN),
            "import_workers": prospects.import_workers_running(),
        },
    )


@router.post("/prospects/import")
async def import_upload(
    request: Request,
    db: WebDB,
    user: WebOperator,
    runner: Annotated[prospects.ImportRunner, Depends(get_import_runner)],
) -> Response:
    """Hand the upload to the prospects import service; the page then shows its progress."""
    form = await read_form(request)  # size-limited; parsed already unless the CSRF came in a header
    uploaded = form.get("file")
    try:
        if not isinstance(uploaded, UploadFile) or not uploaded.filename:
            raise AppError("missing_file", "CSVファイルを選択してください", field="file")
        path, name = await upload.receive(
            _chunks(uploaded),
            "application/octet-stream",
            uploaded.filename,
            prospects.import_dir(),
        )
        with attempt(db):
            job = prospects.start_import(db, user, path, name, runner)
    except AppError as exc:
        return render(
            request,
            "operator/import.html",
            user,
            {
                "jobs": prospects.list_imports(db, IMPORT_JOBS_SHOWN),
                "errors": {"file": exc.message},
            },
            status_code=exc.status_code,
        )
    return see_other(f"/operator/prospects/import?job={job.id}")


async def _chunks(uploaded: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await uploaded.read(1 << 20):
        yield chunk


@router.get("/prospects/import/{job_id}.json")
def import_progress(db: WebDB, user: WebOperator, job_id: int) -> Response:
    job = prospects.get_import(db, job_id)
    return JSONResponse(
        {
            "id": job.id,
            "status": job.status,
            "rows_total": job.rows_total,
            "rows_imported": job.rows_imported,
            "rows_duplicate": job.rows_duplicate,
            "rows_rejected": job.rows_rejected,
            "failure_reason": job.failure_reason,
        }
    )


# --- bank-transfer confirmation --------------------------------------------------------------------


ORDERS_PER_PAGE = 100


@router.get("/orders")
def orders_page(
    request: Request, db: WebDB, user: WebOperator, q: str = "", status: str = "", page: int = 1
) -> Response:
    page = max(1, page)
    total, orders = tickets.orders_page(
        db, user, search=q, status=status, page=page, per_page=ORDERS_PER_PAGE
    )
    query = "&".join(f"{k}={quote(v)}" for k, v in (("status", status), ("q", q)) if v)
    return render(
        request,
        "operator/orders.html",
        user,
        {
            "orders": orders,
            "total": total,
            "page": page,
            "per_page": ORDERS_PER_PAGE,
            "pager_base": "/operator/orders?" + (query + "&" if query else ""),
            "q": q,
            "status": status,
            "statuses": list(labels.ORDER_STATUS.items()),
        },
    )


@router.post("/orders/{order_id}/confirm-payment")
def confirm_payment(db: WebDB, user: WebOperator, order_id: int) -> Response:
    tickets.confirm_payment(db, order_id, operator=user)
    return see_other("/operator/orders", "payment_confirmed")


@router.post("/orders/{order_id}/refund")
def refund_order(
    db: WebDB,
    user: WebOperator,
    order_id: int,
    gateway: Annotated[PaymentGateway | None, Depends(get_gateway)],
) -> Response:
    """返金: an unused card order, through the gateway that took it."""
    payments.refund_order(db, order_id, operator=user, gateway=gateway)
    return see_other("/operator/orders", "refunded")
