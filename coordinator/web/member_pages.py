"""Member pages: 送信代行 (orders, reservations, history), スクリプト, 見込客リスト一覧."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import UploadFile

from coordinator import csv_export
from coordinator.accounts import service as accounts
from coordinator.database import read_form
from coordinator.errors import AppError
from coordinator.prospects import search as prospect_search
from coordinator.prospects import service as prospects_service
from coordinator.reservations import service as reservations
from coordinator.reservations import views as reservation_views
from coordinator.scripts import service as scripts
from coordinator.scripts.schemas import ScriptIn, ScriptPatch
from coordinator.suppression import service as suppression
from coordinator.tickets import invoices, payments
from coordinator.tickets import service as tickets
from coordinator.tickets.gateway import PaymentGateway, get_gateway
from coordinator.web.forms import Refusal, attempt, errors_of, form_values, to_int
from coordinator.web.links import list_url_of, see_other
from coordinator.web.rendering import render
from coordinator.web.session import WebDB, WebMember, WebRoute
from shared import clock, ledger, send_window
from shared.enums import OrderStatus, PaymentMethod
from shared.models import Script
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
    # Back from the gateway's page (?checkout=success|cancelled&order=N): what became of it.
    returned = request.query_params.get("order", "")
    checkout_order = next((v.order for v in listing.orders if str(v.order.id) == returned), None)
    return render(
        request,
        "member/orders.html",
        user,
        {
            "orders": listing.orders,
            "remaining": listing.remaining,
            "total": listing.total,
            "checkout": request.query_params.get("checkout", ""),
            "checkout_order": checkout_order,
            "bank_account": invoices.bank_account_lines(),
        },
    )


def _order_defaults(db: WebDB, user: Any) -> dict[str, str]:
    return {
        "company_name": accounts.company_name(db, user.member_id),
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
    gateway: Annotated[PaymentGateway | None, Depends(get_gateway)],
) -> Response:
    """この内容で決済する: the order is placed; a card settles at once with the test gateway
    (作業中) or sends the member to Stripe's page (the order waits for the webhook)."""
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
            order = tickets.place_order(
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
    if order.checkout_url and order.status == OrderStatus.AWAITING_PAYMENT.value:
        return RedirectResponse(order.checkout_url, status_code=303)
    return see_other("/orders", "paid" if method == PaymentMethod.CARD else "order_created")


@router.post("/orders/{order_id}/checkout")
def order_checkout(
    db: WebDB,
    user: WebMember,
    order_id: int,
    gateway: Annotated[PaymentGateway | None, Depends(get_gateway)],
) -> Response:
    """お支払いへ進む: to Stripe's page (a new Checkout Session once the old one expired)."""
    order = payments.new_checkout(db, user, order_id, gateway=gateway)
    return RedirectResponse(order.checkout_url or "/orders", status_code=303)


# --- スクリプト -----------------------------------------------------------------------------


def _script_values(content: dict[str, Any], name: str) -> dict[str, str]:
    values = {"name": name, "subject": content.get("subject", ""), "body": content.get("body", "")}
    for key, value in (content.get("sender") or {}).items():
        values[f"sender.{key}"] = str(value)
    values["inquiry_type_preference"] = ", ".join(content.get("inquiry_type_preference") or [])
    for flag in ("capture_replies", "track_clicks"):
        values[flag] = "1" if content.get(flag) else ""
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
        "capture_replies": values.get("capture_replies") == "1",
        "track_clicks": values.get("track_clicks") == "1",
    }


def _newest_scripts(db: WebDB, user: Any) -> list[Script]:
    return list(reversed(scripts.list_for(db, user)))


@router.get("/scripts")
def scripts_page(request: Request, db: WebDB, user: WebMember) -> Response:
    return render(request, "member/scripts.html", user, {"scripts": _newest_scripts(db, user)})


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
    except Refusal as exc:
        return _script_form(request, user, values, errors_of(exc), None, 400)
    return see_other("/scripts", "script_saved")


@router.get("/scripts/{script_id}/edit")
def script_edit_page(request: Request, db: WebDB, user: WebMember, script_id: int) -> Response:
    script = scripts.get_owned(db, user, script_id)
    return _script_form(request, user, _script_values(script.content, script.name), {}, script.id)


@router.post("/scripts/{script_id}/edit")
async def script_edit(request: Request, db: WebDB, user: WebMember, script_id: int) -> Response:
    scripts.get_owned(db, user, script_id)
    values = await form_values(request)
    try:
        with attempt(db):
            scripts.update(db, user, script_id, ScriptPatch.model_validate(_script_content(values)))
    except Refusal as exc:
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
    script, company, _optout, message = scripts.preview(db, user, script_id, prospect_id)
    subject, body = message.subject, message.body
    return render(
        request,
        "member/script_preview.html",
        user,
        {
            "script": script,
            "prospects": sample,
            "prospect_id": prospect_id,
            "company": company if prospect_id is not None else None,
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
    industries, prefectures = prospects_service.search_choices(db)
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
            "industries": industries,
            "prefectures": prefectures,
            "open_reservations": reservation_views.newest(
                db, user, statuses=reservations.OPEN_STATUSES
            ),
            "scripts": _newest_scripts(db, user),
            "member_company": accounts.company_name(db, user.member_id),
            "values": values or {},
            "errors": errors,
        },
        status_code=status_code,
    )


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
    except Refusal as exc:
        errors = errors_of(exc)
        message = "・".join(errors.values())
        return _search_page(
            request, db, user, values=values, errors={"transfer": message}, status_code=400
        )
    return see_other("/reservations", "transferred")


# --- NGリスト (the member's own do-not-contact domains) ---------------------------------------

NG_PER_PAGE = 200  # the service's page


def _ng_page(
    request: Request,
    db: WebDB,
    user: Any,
    *,
    q: str = "",
    page: int = 1,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    report: suppression.NgImport | None = None,
    status_code: int = 200,
) -> Response:
    page = max(1, page)
    listing = suppression.list_ng(db, user, contains=q, page=page)
    return render(
        request,
        "member/ng_domains.html",
        user,
        {
            "rows": listing.items,
            "total": listing.total,
            "q": q,
            "page": page,
            "per_page": NG_PER_PAGE,
            "values": values or {},
            "errors": errors or {},
            "report": report,
        },
        status_code=status_code,
    )


@router.get("/ng-domains")
def ng_domains_page(
    request: Request, db: WebDB, user: WebMember, q: str = "", page: int = 1
) -> Response:
    return _ng_page(request, db, user, q=q, page=page)


@router.post("/ng-domains")
async def ng_domain_add(request: Request, db: WebDB, user: WebMember) -> Response:
    values = await form_values(request)
    try:
        with attempt(db):
            suppression.add_ng(db, user, values.get("domain", ""), note=values.get("note", ""))
    except Refusal as exc:
        return _ng_page(request, db, user, values=values, errors=errors_of(exc), status_code=400)
    return see_other("/ng-domains", "ng_added")


@router.post("/ng-domains/{entry_id}/delete")
def ng_domain_delete(db: WebDB, user: WebMember, entry_id: int) -> Response:
    suppression.remove_ng(db, user, entry_id)
    return see_other("/ng-domains", "ng_removed")


@router.post("/ng-domains/import")
async def ng_domains_import(request: Request, db: WebDB, user: WebMember) -> Response:
    form = await read_form(request)  # size-limited; parsed already unless the CSRF came in a header
    uploaded = form.get("file")
    if not isinstance(uploaded, UploadFile) or not uploaded.filename:
        errors = {"file": "CSVファイルを選択してください"}
        return _ng_page(request, db, user, errors=errors, status_code=400)
    raw = await uploaded.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp932", errors="replace")  # Excel's Japanese CSV
    try:
        with attempt(db):
            report = suppression.import_ng(db, user, text)
    except Refusal as exc:
        return _ng_page(request, db, user, errors=errors_of(exc), status_code=400)
    return _ng_page(request, db, user, report=report)


@router.get("/ng-domains.csv")
def ng_domains_csv(db: WebDB, user: WebMember) -> Response:
    return csv_export.response(
        suppression.NG_CSV_HEADER, suppression.ng_csv_batches(db, user), "ng_domains.csv"
    )


# --- 予約代行フォーム / 予約履歴 ------------------------------------------------------------------


def _reservation_form(
    request: Request,
    db: WebDB,
    user: Any,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    default_window = reservation_views.default_send_window(db, user)
    return render(
        request,
        "member/reservation_new.html",
        user,
        {
            "values": values,
            "errors": errors,
            "available": ledger.balance(db, user.member_id).available,
            "scripts": _newest_scripts(db, user),
            "window": _window_of(values) if "window_mode" in values else default_window,
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
    script_b_id: int | None = None
    if values.get("script_b_id", "").strip():  # optional: a second script for an A/B test
        try:
            script_b_id = to_int(values, "script_b_id")
        except AppError as exc:
            errors["script_b_id"] = exc.message
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
                script_b_id=script_b_id,
                send_window=_window_of(values),
                window_given=True,
                remember_window=bool(values.get("window_default")),
            )
    except Refusal as exc:
        return _reservation_form(request, db, user, values, errors_of(exc), 400)
    return see_other("/reservations", "reserved")


_LABEL = {"count": "送信依頼件数", "senders": "送信担当者数", "script_id": "スクリプトID"}


@router.get("/reservations")
def reservations_page(request: Request, db: WebDB, user: WebMember) -> Response:
    return render(
        request, "member/reservations.html", user, {"rows": reservation_views.newest(db, user)}
    )


@router.post("/reservations/{reservation_id}/script")
async def reservation_script(
    request: Request, db: WebDB, user: WebMember, reservation_id: int
) -> Response:
    values = await form_values(request)
    script_id = to_int(values, "script_id", _LABEL["script_id"])
    reservations.change_script(db, user, reservation_id, script_id)
    return see_other(f"/reservations/{reservation_id}", "script_changed")


def _window_of(values: dict[str, str]) -> dict[str, Any] | None:
    """The 送信時間帯 fields (send_window_fields.html) as the API's window; None: any time."""
    if values.get("window_mode") != "window":
        return None
    return {
        "days": [d for d in send_window.DAY_LABELS if values.get(f"window_day_{d}")],
        "start": values.get("window_start", ""),
        "end": values.get("window_end", ""),
    }


@router.post("/reservations/{reservation_id}/send-window")
async def reservation_send_window(
    request: Request, db: WebDB, user: WebMember, reservation_id: int
) -> Response:
    values = await form_values(request)
    reservations.set_send_window(db, user, reservation_id, _window_of(values))
    return see_other(f"/reservations/{reservation_id}", "window_changed")


@router.post("/reservations/{reservation_id}/additions")
async def reservation_addition(
    request: Request, db: WebDB, user: WebMember, reservation_id: int
) -> Response:
    values = await form_values(request)
    reservations.request_addition(
        db, user, reservation_id, count=to_int(values, "count", "追加する件数")
    )
    return see_other("/reservations", "addition_requested")
