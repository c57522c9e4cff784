"""Member pages: 送信代行 (orders, reservations, history), スクリプト, 見込客リスト一覧."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse

from coordinator.chat import service as chat
from coordinator.errors import AppError
from coordinator.notifications import service as notifications
from coordinator.prospects import search as prospect_search
from coordinator.prospects.regions import PREFECTURES
from coordinator.reservations import results as reservation_results
from coordinator.reservations import service as reservations
from coordinator.scripts import service as scripts
from coordinator.scripts.schemas import ScriptIn, ScriptPatch
from coordinator.tickets import service as tickets
from coordinator.tickets.gateway import PaymentGateway, get_gateway
from coordinator.web import repository as repo
from coordinator.web.forms import attempt, errors_of, form_values, to_int
from coordinator.web.links import list_url_of, see_other
from coordinator.web.rendering import render
from coordinator.web.session import WebDB, WebMember, WebRoute, WebUser
from shared import clock, ledger
from shared.enums import PaymentMethod
from shared.models import Member, Prospect
from shared.rules import order_amount_jpy

router = APIRouter(route_class=WebRoute)

SENDER_FIELDS = [
    ("company", "会社名"),
    ("company_kana", "会社名（カナ）"),
    ("department", "部署"),
    ("position", "役職"),
    ("last_name", "姓"),
    ("first_name", "名"),
    ("last_name_kana", "姓（カナ）"),
    ("first_name_kana", "名（カナ）"),
    ("email", "メールアドレス"),
    ("phone", "電話番号"),
    ("postal_code", "郵便番号"),
    ("prefecture", "都道府県"),
    ("city", "市区町村"),
    ("address", "番地"),
    ("building", "建物名"),
    ("url", "URL"),
]


# --- 送信代行 > メール送信申込一覧 ---------------------------------------------------------------


@router.get("/orders")
def orders_page(request: Request, db: WebDB, user: WebMember) -> Response:
    listing = tickets.list_orders(db, user)
    return render(
        request,
        "member/orders.html",
        user,
        {"orders": listing.orders, "remaining": listing.remaining, "total": listing.total},
    )


def _order_defaults(db: WebDB, user: Any) -> dict[str, str]:
    member = db.get(Member, user.member_id)
    return {
        "company_name": member.company_name if member else "",
        "contact_name": user.name,
        "payment_method": "card",
    }


ORDER_STEP1_FIELDS = ("company_name", "quantity", "contact_name", "payment_method", "form")


@router.get("/orders/new")
def order_new_page(request: Request, db: WebDB, user: WebMember) -> Response:
    return render(request, "member/order_new.html", user, {"values": _order_defaults(db, user)})


@router.post("/orders/new")
async def order_new(request: Request, user: WebMember) -> Response:
    """申込み: check what the first step holds, then show 決済内容の確認 (nothing saved yet)."""
    values = await form_values(request)
    errors: dict[str, str] = {}
    for name, label in (("company_name", "会社名"), ("contact_name", "担当者名")):
        if not values.get(name, "").strip():
            errors[name] = f"{label}を入力してください"
    quantity = 0
    try:
        quantity = to_int(values, "quantity")
        tickets.validate_quantity(quantity)
    except AppError as exc:
        errors[exc.field or "quantity"] = exc.message
    if values.get("payment_method") not in ("card", "bank_transfer"):
        errors["payment_method"] = "決済方法を選択してください"
    if errors:
        return render(
            request,
            "member/order_new.html",
            user,
            {"values": values, "errors": errors},
            status_code=400,
        )
    return _order_confirm(request, user, values, quantity, {})


def _order_confirm(
    request: Request,
    user: Any,
    values: dict[str, str],
    quantity: int,
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "member/order_confirm.html",
        user,
        {
            "order": {
                "company_name": values.get("company_name", ""),
                "contact_name": values.get("contact_name", ""),
                "quantity": quantity,
                "amount_jpy": order_amount_jpy(quantity),
                "payment_method": values.get("payment_method", "card"),
            },
            "today": clock.now(),
            "values": values,
            "errors": errors,
        },
        status_code=status_code,
    )


@router.post("/orders/confirm")
async def order_confirm(
    request: Request,
    db: WebDB,
    user: WebMember,
    gateway: Annotated[PaymentGateway, Depends(get_gateway)],
) -> Response:
    """この内容で決済する: the order is placed; a card settles at once (作業中)."""
    values = await form_values(request)
    try:
        quantity = to_int(values, "quantity")
        method = PaymentMethod(values.get("payment_method", "card"))
    except (AppError, ValueError):
        return render(
            request,
            "member/order_new.html",
            user,
            {"values": values, "errors": {"quantity": "申込内容をもう一度入力してください"}},
            status_code=400,
        )
    try:
        with attempt(db):
            tickets.place_order(
                db,
                user,
                quantity=quantity,
                company_name=values.get("company_name", ""),
                contact_name=values.get("contact_name", ""),
                payment_method=method,
                card_number=values.get("card_number") if method == PaymentMethod.CARD else None,
                gateway=gateway,
            )
    except AppError as exc:
        if exc.field in ORDER_STEP1_FIELDS or exc.field is None:
            return render(
                request,
                "member/order_new.html",
                user,
                {"values": values, "errors": errors_of(exc)},
                status_code=exc.status_code,
            )
        return _order_confirm(request, user, values, quantity, errors_of(exc), exc.status_code)
    return see_other("/orders", "paid" if method == PaymentMethod.CARD else "order_created")


# --- スクリプト -----------------------------------------------------------------------------


def _script_values(content: dict[str, Any], name: str) -> dict[str, str]:
    values = {"name": name, "subject": content.get("subject", ""), "body": content.get("body", "")}
    for key, value in (content.get("sender") or {}).items():
        values[f"sender.{key}"] = str(value)
    values["inquiry_type_preference"] = ", ".join(content.get("inquiry_type_preference") or [])
    return values


def _script_content(values: dict[str, str]) -> dict[str, Any]:
    # Every key, blanks included, so that clearing a field on the edit form clears it.
    sender = {key: values.get(f"sender.{key}", "").strip() for key, _ in SENDER_FIELDS}
    prefs = [
        p.strip() for p in values.get("inquiry_type_preference", "").replace("、", ",").split(",")
    ]
    return {
        "name": values.get("name", "").strip(),
        "sender": sender,
        "subject": values.get("subject", "").strip(),
        "body": values.get("body", "").replace("\r\n", "\n"),
        "inquiry_type_preference": [p for p in prefs if p],
    }


@router.get("/scripts")
def scripts_page(request: Request, db: WebDB, user: WebMember) -> Response:
    return render(
        request, "member/scripts.html", user, {"scripts": repo.scripts(db, user.member_id)}
    )


def _script_form(
    request: Request,
    user: Any,
    values: dict[str, str],
    errors: dict[str, str],
    script_id: int | None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "member/script_form.html",
        user,
        {
            "values": values,
            "errors": errors,
            "script_id": script_id,
            "sender_fields": SENDER_FIELDS,
            "action": f"/scripts/{script_id}/edit" if script_id else "/scripts/new",
        },
        status_code=status_code,
    )


@router.get("/scripts/new")
def script_new_page(request: Request, user: WebMember) -> Response:
    return _script_form(request, user, {}, {}, None)


@router.post("/scripts/new")
async def script_new(request: Request, db: WebDB, user: WebMember) -> Response:
    values = await form_values(request)
    try:
        with attempt(db):
            scripts.create(db, user, ScriptIn.model_validate(_script_content(values)))
    except Exception as exc:
        return _script_form(request, user, values, errors_of(exc), None, 400)
    return see_other("/scripts", "script_saved")


@router.get("/scripts/{script_id}/edit")
def script_edit_page(request: Request, db: WebDB, user: WebMember, script_id: int) -> Response:
    script = repo.script_for(db, user.member_id, script_id)
    return _script_form(request, user, _script_values(script.content, script.name), {}, script.id)


@router.post("/scripts/{script_id}/edit")
async def script_edit(request: Request, db: WebDB, user: WebMember, script_id: int) -> Response:
    repo.script_for(db, user.member_id, script_id)
    values = await form_values(request)
    try:
        with attempt(db):
            scripts.update(db, user, script_id, ScriptPatch.model_validate(_script_content(values)))
    except Exception as exc:
        return _script_form(request, user, values, errors_of(exc), script_id, 400)
    return see_other("/scripts", "script_saved")


@router.get("/scripts/{script_id}/preview")
def script_preview(
    request: Request, db: WebDB, user: WebMember, script_id: int, prospect_id: int | None = None
) -> Response:
    _, sample = prospect_search.search(
        db, prospect_search.ProspectQuery(has_url=True, per_page=20), user.member_id
    )
    if prospect_id is None and sample:
        prospect_id = sample[0].id
    script, _company, _optout, message = scripts.preview(db, user, script_id, prospect_id)
    prospect = db.get(Prospect, prospect_id) if prospect_id else None
    subject, body = message.subject, message.body
    return render(
        request,
        "member/script_preview.html",
        user,
        {
            "script": script,
            "prospects": sample,
            "prospect": prospect,
            "subject": subject,
            "body": body,
        },
    )


# --- 見込客リスト一覧 ------------------------------------------------------------------------


def _search_page(
    request: Request,
    db: WebDB,
    user: Any,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    errors = dict(errors or {})
    try:
        q = prospect_search.parse_params(request.query_params.multi_items())
    except AppError as exc:
        errors["search"] = exc.message
        q = prospect_search.ProspectQuery()
    total, prospects = prospect_search.search(db, q, user.member_id)
    member = db.get(Member, user.member_id)
    qs = prospect_search.to_query_string(q.without_paging())
    return render(
        request,
        "member/prospects.html",
        user,
        {
            "q": q,
            "qs": qs,
            "total": total,
            "prospects": prospects,
            "list_url": list_url_of(qs),
            "industries": repo.distinct_values(db, Prospect.industry),
            "prefectures": sorted(
                repo.distinct_values(db, Prospect.prefecture), key=_prefecture_order
            ),
            "open_reservations": repo.open_reservations(db, user.member_id),
            "scripts": repo.scripts(db, user.member_id),
            "member_company": member.company_name if member else "",
            "values": values or {},
            "errors": errors,
        },
        status_code=status_code,
    )


def _prefecture_order(name: str) -> tuple[int, str]:
    # North to south, as on every Japanese form; unknown names last.
    try:
        return PREFECTURES.index(name), name
    except ValueError:
        return len(PREFECTURES), name


@router.get("/prospects")
def prospects_page(request: Request, db: WebDB, user: WebMember) -> Response:
    return _search_page(request, db, user)


@router.post("/prospects/transfer")
async def prospects_transfer(request: Request, db: WebDB, user: WebMember) -> Response:
    values = await form_values(request)
    try:
        reservation_id = to_int(values, "reservation_id")
        with attempt(db):
            reservations.transfer(
                db,
                user,
                reservation_id,
                list_url=values.get("list_url", ""),
                count=to_int(values, "count", "リスト移行件数"),
                script_id=to_int(values, "script_id"),
            )
    except Exception as exc:
        errors = errors_of(exc)
        message = "・".join(errors.values())
        return _search_page(
            request, db, user, values=values, errors={"transfer": message}, status_code=400
        )
    return see_other("/reservations", "transferred")


# --- 予約代行フォーム / 予約履歴 ------------------------------------------------------------------


def _reservation_form(
    request: Request,
    db: WebDB,
    user: Any,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "member/reservation_new.html",
        user,
        {
            "values": values,
            "errors": errors,
            "available": ledger.balance(db, user.member_id).available,
            "scripts": repo.scripts(db, user.member_id),
        },
        status_code=status_code,
    )


@router.get("/reservations/new")
def reservation_new_page(
    request: Request, db: WebDB, user: WebMember, list_url: str = ""
) -> Response:
    return _reservation_form(request, db, user, {"list_url": list_url, "senders": "1"}, {})


@router.post("/reservations/new")
async def reservation_new(request: Request, db: WebDB, user: WebMember) -> Response:
    values = await form_values(request)
    errors: dict[str, str] = {}
    numbers: dict[str, int] = {}
    for name in ("count", "senders", "script_id"):
        try:
            numbers[name] = to_int(values, name)
        except AppError as exc:
            errors[name] = exc.message if values.get(name) else f"{_LABEL[name]}を入力してください"
    if errors:
        return _reservation_form(request, db, user, values, errors, 400)
    try:
        with attempt(db):
            reservations.create(
                db,
                user,
                count=numbers["count"],
                senders=numbers["senders"],
                list_url=values.get("list_url", ""),
                script_id=numbers["script_id"],
            )
    except Exception as exc:
        return _reservation_form(request, db, user, values, errors_of(exc), 400)
    return see_other("/reservations", "reserved")


_LABEL = {"count": "送信依頼件数", "senders": "送信担当者数", "script_id": "スクリプトID"}


@router.get("/reservations")
def reservations_page(request: Request, db: WebDB, user: WebMember) -> Response:
    return render(request, "member/reservations.html", user, {"rows": repo.reservations(db, user)})


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


@router.post("/reservations/{reservation_id}/additions")
async def reservation_addition(
    request: Request, db: WebDB, user: WebMember, reservation_id: int
) -> Response:
    values = await form_values(request)
    reservations.request_addition(
        db, user, reservation_id, count=to_int(values, "count", "追加する件数")
    )
    return see_other("/reservations", "addition_requested")


def _back(user: Any, reservation_id: int) -> str:
    return f"/operator/reservations/{reservation_id}" if user.is_operator else "/reservations"


# --- reservation detail, results, evidence, chat, notifications (members and operators) -------


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
    row = repo.reservation_for(db, user, reservation_id)
    r = row.reservation
    page = max(1, page)
    total, items = repo.items(db, r.id, state=state or None, reason=reason or None, page=page)
    script = repo.script_by_id(db, r.script_id)
    filter_qs = "&".join(f"{k}={v}" for k, v in (("state", state), ("reason", reason)) if v)
    return render(
        request,
        "reservation_detail.html",
        user,
        {
            "row": row,
            "r": r,
            "script": script,
            "list_url": list_url_of(r.list_query),
            "additions": repo.additions(db, r.id),
            "outcomes": repo.outcomes(db, r.id),
            "series": repo.sends_per_minute(db, r.id),
            "items": items,
            "items_total": total,
            "page": page,
            "per_page": repo.ITEMS_PER_PAGE,
            "state": state,
            "reason": reason,
            "filter_qs": filter_qs + "&" if filter_qs else "",
        },
    )


@router.get("/reservations/{reservation_id}/results.csv")
def reservation_results_csv(db: WebDB, user: WebUser, reservation_id: int) -> Response:
    body = reservation_results.items_csv(db, user, reservation_id)
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="reservation-{reservation_id}-results.csv"'
        },
    )


@router.get("/items/{item_id}")
def item_page(request: Request, db: WebDB, user: WebUser, item_id: int) -> Response:
    item = repo.item_for(db, user, item_id)
    evidence = item.evidence or {}
    return render(
        request,
        "item.html",
        user,
        {
            "item": item,
            "fields": [f for f in evidence.get("fields") or [] if isinstance(f, dict)],
            "screenshots": repo.evidence_names(
                reservation_results.evidence_dir(item.reservation_id, item.id)
            ),
        },
    )


@router.get("/items/{item_id}/evidence/{name}")
def item_evidence(db: WebDB, user: WebUser, item_id: int, name: str) -> Response:
    item = repo.item_for(db, user, item_id)
    return FileResponse(
        reservation_results.evidence_file(db, user, item.reservation_id, item.id, name)
    )


@router.get("/reservations/{reservation_id}/chat")
def chat_page(request: Request, db: WebDB, user: WebUser, reservation_id: int) -> Response:
    row = repo.reservation_for(db, user, reservation_id)
    return render(
        request,
        "chat.html",
        user,
        {"row": row, "r": row.reservation, "messages": repo.chat_messages(db, reservation_id)},
    )


@router.post("/reservations/{reservation_id}/chat")
async def chat_post(request: Request, db: WebDB, user: WebUser, reservation_id: int) -> Response:
    row = repo.reservation_for(db, user, reservation_id)
    values = await form_values(request)
    try:
        with attempt(db):
            chat.post_message(db, user, reservation_id, body=values.get("body", ""))
    except Exception as exc:
        return render(
            request,
            "chat.html",
            user,
            {
                "row": row,
                "r": row.reservation,
                "messages": repo.chat_messages(db, reservation_id),
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
