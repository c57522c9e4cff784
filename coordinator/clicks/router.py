"""The public click redirect ``/r/<token>`` (no login: the prospect follows it from the mail)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from coordinator.clicks import service
from coordinator.dependencies import DB
from coordinator.suppression.router import plain_page

router = APIRouter(tags=["clicks"])

MAX_TOKEN = 64


@router.api_route("/r/{token}", methods=["GET", "HEAD"], include_in_schema=False)
def follow_link(token: str, request: Request, db: DB) -> Response:
    url = (
        service.follow(
            db, token, method=request.method, user_agent=request.headers.get("user-agent", "")
        )
        if len(token) <= MAX_TOKEN
        else None
    )
    if url is None:
        page: HTMLResponse = plain_page(
            "ページが見つかりません",
            "<p>このリンクは無効です。URLをご確認ください。</p>",
            status_code=404,
        )
        return page
    return RedirectResponse(
        url,
        status_code=302,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
