"""Suppression API: the global list (operators), the NG list (members), the opt-out page."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from coordinator.dependencies import DB, Member, Operator
from coordinator.suppression import service
from coordinator.suppression.schemas import (
    NgDomainIn,
    SuppressionIn,
    SuppressionList,
    SuppressionOut,
)

router = APIRouter(tags=["suppression"])

_PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>body{{font-family:sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;
line-height:1.7;color:#222}}h1{{font-size:1.3rem}}</style></head>
<body><h1>{title}</h1>{body}</body></html>"""


def plain_page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status_code)


@router.get("/api/v1/suppressions", response_model=SuppressionList)
def list_suppressions(db: DB, user: Operator, domain: str = "", page: int = 1) -> SuppressionList:
    return service.list_global(db, contains=domain, page=page)


@router.post("/api/v1/suppressions", response_model=SuppressionOut, status_code=201)
def add_suppression(body: SuppressionIn, db: DB, user: Operator) -> SuppressionOut:
    return service.add_global(db, body.domain, reason=body.reason, note=body.note)


@router.delete("/api/v1/suppressions/{entry_id}", status_code=204)
def remove_suppression(entry_id: int, db: DB, user: Operator) -> Response:
    service.remove_global(db, entry_id)
    return Response(status_code=204)


@router.get("/api/v1/ng-domains", response_model=SuppressionList)
def list_ng_domains(db: DB, user: Member, domain: str = "", page: int = 1) -> SuppressionList:
    return service.list_ng(db, user, contains=domain, page=page)


@router.post("/api/v1/ng-domains", response_model=SuppressionOut, status_code=201)
def add_ng_domain(body: NgDomainIn, db: DB, user: Member) -> SuppressionOut:
    return service.add_ng(db, user, body.domain, note=body.note)


@router.delete("/api/v1/ng-domains/{entry_id}", status_code=204)
def remove_ng_domain(entry_id: int, db: DB, user: Member) -> Response:
    service.remove_ng(db, user, entry_id)
    return Response(status_code=204)


_UNKNOWN_LINK = (
    "ページが見つかりません",
    "<p>この配信停止リンクは無効です。URLをご確認ください。</p>",
)


@router.get("/optout/{token}", response_class=HTMLResponse, include_in_schema=False)
def confirm_opt_out(token: str, db: DB) -> HTMLResponse:
    """The link in every message: a confirmation page that changes nothing.

    Mail scanners and link previews follow links with GET; only the button (a POST) opts the
    domain out (docs/rules.md#opt-out-link).
    """
    item = service.find_opt_out(db, token)
    if item is None:
        return plain_page(*_UNKNOWN_LINK, status_code=404)
    return plain_page(
        "配信停止の確認",
        f"<p>{escape(item.domain)} 宛てのご案内の送信を停止します。よろしければ下のボタンを押してください。</p>"
        f'<form method="post" action="/optout/{escape(token)}">'
        '<button type="submit">配信を停止する</button></form>',
    )


@router.post("/optout/{token}", response_class=HTMLResponse, include_in_schema=False)
def opt_out(token: str, db: DB) -> HTMLResponse:
    """The confirmation's button (and one-click unsubscribe): the domain is suppressed for good."""
    item = service.opt_out(db, token)
    if item is None:
        return plain_page(*_UNKNOWN_LINK, status_code=404)
    return plain_page(
        "配信停止を受け付けました",
        f"<p>{escape(item.domain)} 宛てのご案内の送信を停止しました。"
        "今後、当サービスからこのドメインのお問い合わせフォームへ営業のご連絡をすることはありません。</p>"
        "<p>ご迷惑をおかけし申し訳ございませんでした。</p>",
    )
