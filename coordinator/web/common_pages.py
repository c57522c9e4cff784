"""Pages that a reservation's member and the operators both open: the reservation's detail
with its results and evidence, its chat, the actions both sides may take on it (pause,
resume, cancel: each side comes back to its own page), and the notifications."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from coordinator.chat import service as chat
from coordinator.fleet import service as fleet
from coordinator.notifications import service as notifications
from coordinator.reservations import ab as reservation_ab
from coordinator.reservations import results as reservation_results
from coordinator.reservations import service as reservations
from coordinator.reservations import views as reservation_views
from coordinator.responses import service as responses
from coordinator.scripts import service as scripts
from coordinator.web.forms import Refusal, attempt, errors_of, form_values
from coordinator.web.links import list_url_of, see_other
from coordinator.web.rendering import render
from coordinator.web.session import WebDB, WebRoute, WebUser

router = APIRouter(route_class=WebRoute)

RESPONSES_SHOWN = 20  # the detail page lists the newest mail received; the API pages the rest


# --- actions of both sides -------------------------------------------------------------------


@router.post("/reservations/{reservation_id}/pause")
async def reservation_pause(
    request: Request, db: WebDB, user: WebUser, reservation_id: int
) -> Response:
    values = await form_values(request)
    remove_list = values.get("remove_list") == "1"
    reservations.pause(db, user, reservation_id, remove_list=remove_list)
    return see_other(_back(user, reservation_id), "list_removed" if remove_list else "paused")


@router.post("/reservations/{reservation_id}/resume")
def reservation_resume(db: WebDB, user: WebUser, reservation_id: int) -> Response:
    reservations.resume(db, user, reservation_id)
    return see_other(_back(user, reservation_id), "resumed")


@router.post("/reservations/{reservation_id}/cancel")
def reservation_cancel(db: WebDB, user: WebUser, reservation_id: int) -> Response:
    reservations.cancel(db, user, reservation_id)
    return see_other(_back(user, reservation_id), "cancelled")


def _back(user: Any, reservation_id: int) -> str:
    return f"/operator/reservations/{reservation_id}" if user.is_operator else "/reservations"


# --- detail, results, evidence, chat, notifications ------------------------------------------


@router.get("/reservations/{reservation_id}")
def reservation_detail(
    request: Request,
    db: WebDB,
    user: WebUser,
    reservation_id: int,
    state: str = "",
    reason: str = "",
    page: int = 1,
) -> Response:
    r = reservation_views.get(db, user, reservation_id, detail=False)
    page = max(1, page)
    items = reservation_results.items(
        db, user, r.id, state=state or None, reason=reason or None, page=page, attempted_first=True
    )
    script = scripts.of_reservation(db, user, r.script_id)
    script_b = scripts.of_reservation(db, user, r.script_b_id) if r.script_b_id else None
    filter_qs = "&".join(f"{k}={v}" for k, v in (("state", state), ("reason", reason)) if v)
    return render(
        request,
        "reservation_detail.html",
        user,
        {
            "r": r,
            "script": script,
            "script_b": script_b,
            # A/B scripts: the two scripts' results side by side (docs/rules.md#ab-scripts).
            "ab": reservation_ab.compare(db, r),
            "ab_columns": reservation_ab.COLUMNS,
            # 反響 (docs/rules.md#responses): counters, rates and the newest mail received.
            "responses": responses.list_for(db, user, r.id, per_page=RESPONSES_SHOWN),
            # A member may change the script while 申請中 or 一時停止
            # (docs/rules.md#pause-list-change-and-add-list, R24).
            "my_scripts": [] if user.is_operator else list(reversed(scripts.list_for(db, user))),
            "list_url": list_url_of(r.list_url),
            "additions": reservation_views.additions(db, user, r.id),
            "outcomes": fleet.outcomes(db, r.id),
            "series": fleet.sends_per_minute(db, r.id),
            "items": items.items,
            "items_total": items.total,
            "page": page,
            "per_page": items.per_page,
            "state": state,
            "reason": reason,
            "filter_qs": filter_qs + "&" if filter_qs else "",
        },
    )


@router.get("/reservations/{reservation_id}/results.csv")
def reservation_results_csv(
    db: WebDB,
    user: WebUser,
    reservation_id: int,
    state: str | None = None,
    reason: str | None = None,
) -> Response:
    """The results CSV with the page's filters (状態, 理由) applied."""
    return reservation_results.items_csv(
        db, user, reservation_id, state=state or None, reason=reason or None
    )


@router.get("/items/{item_id}")
def item_page(request: Request, db: WebDB, user: WebUser, item_id: int) -> Response:
    item = reservation_results.item(db, user, item_id)
    evidence = reservation_results.shown_evidence(user, item) or {}
    return render(
        request,
        "item.html",
        user,
        {
            "item": item,
            "fields": [f for f in evidence.get("fields") or [] if isinstance(f, dict)],
            "screenshots": reservation_results.screenshots(item),
        },
    )


@router.get("/items/{item_id}/evidence/{name}")
def item_evidence(db: WebDB, user: WebUser, item_id: int, name: str) -> Response:
    item = reservation_results.item(db, user, item_id)
    return reservation_results.evidence_file(db, user, item.reservation_id, item.id, name)


@router.get("/reservations/{reservation_id}/chat")
def chat_page(request: Request, db: WebDB, user: WebUser, reservation_id: int) -> Response:
    r = reservation_views.get(db, user, reservation_id, detail=False)
    return render(request, "chat.html", user, {"r": r, "messages": chat.thread(db, user, r.id)})


@router.post("/reservations/{reservation_id}/chat")
async def chat_post(request: Request, db: WebDB, user: WebUser, reservation_id: int) -> Response:
    r = reservation_views.get(db, user, reservation_id, detail=False)
    values = await form_values(request)
    try:
        with attempt(db):
            chat.post_message(db, user, reservation_id, body=values.get("body", ""))
    except Refusal as exc:
        return render(
            request,
            "chat.html",
            user,
            {
                "r": r,
                "messages": chat.thread(db, user, r.id),
                "values": values,
                "errors": errors_of(exc),
            },
            status_code=400,
        )
    return see_other(f"/reservations/{reservation_id}/chat")


@router.get("/notifications")
def notifications_page(request: Request, db: WebDB, user: WebUser) -> Response:
    rows, unread = notifications.list_for(db, user, limit=100)
    return render(
        request,
        "notifications.html",
        user,
        {"notifications": rows, "unread": unread},
    )


@router.post("/notifications/read-all")
def notifications_read_all(db: WebDB, user: WebUser) -> Response:
    notifications.mark_all_read(db, user)
    return see_other("/notifications")
