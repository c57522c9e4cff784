"""Who is using the browser: the session cookie, its CSRF token, and what a page needs.

Pages answer an anonymous visitor with a redirect to the login page, and a refused action with
an HTML page (not the JSON of the API): :class:`WebRoute` turns both exceptions into pages."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from coordinator.accounts.service import Principal, resolve_token
from coordinator.database import get_db
from coordinator.dependencies import SAFE_METHODS, SESSION_COOKIE
from coordinator.errors import AppError, Forbidden
from shared.db import rollback

# The request's transaction commits when the page function returns, *before* the response
# leaves: FastAPI's default for a yield dependency ("request" scope) would commit after the
# response was sent, and the GET that follows a post's redirect could read the old state.
WebDB = Annotated[Session, Depends(get_db, scope="function")]


class LoginRequired(Exception):  # noqa: N818 — a redirect, not a failure
    """No valid session: send the browser to the login page."""


def _safe_next(path: str) -> str:
    # Only paths of this site: never an absolute or scheme-relative URL (open redirect).
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    if request.method not in SAFE_METHODS:
        target = "/"  # a form post cannot be replayed after logging in
    return RedirectResponse(f"/login?next={quote(_safe_next(target), safe='/')}", status_code=303)


class WebRoute(APIRoute):
    """A page route: LoginRequired → redirect to /login, a refused action → an error page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return login_redirect(request)
            except AppError as exc:
                from coordinator.web.rendering import render

                # The refused action may have flushed rows; they must not be committed with
                # the error page (the API gets this from the exception reaching get_db).
                db = getattr(request.state, "web_db", None)
                if db is not None:
                    rollback(db)

                user = getattr(request.state, "web_user", None)
                return render(
                    request,
                    "error.html",
                    user,
                    {"code": exc.code, "message": exc.message},
                    status_code=exc.status_code,
                )

        return page_handler


async def _csrf_from_form(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


async def optional_web_user(request: Request, db: WebDB) -> Principal | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    principal = resolve_token(db, cookie, "session")
    if principal is None:
        return None
    request.state.web_user = principal
    request.state.web_db = db
    if request.method not in SAFE_METHODS:
        sent = await _csrf_from_form(request)
        if not sent or not hmac.compare_digest(sent, principal.csrf_token):
            raise AppError(
                "csrf_failed",
                "画面の有効期限が切れました。再読み込みしてから、もう一度操作してください",
                status_code=403,
            )
    return principal


async def web_user(
    principal: Annotated[Principal | None, Depends(optional_web_user)],
) -> Principal:
    if principal is None:
        raise LoginRequired()
    return principal


async def web_member(principal: Annotated[Principal, Depends(web_user)]) -> Principal:
    if principal.member_id is None:
        raise Forbidden("この画面は会員のみが利用できます")
    return principal


async def web_operator(principal: Annotated[Principal, Depends(web_user)]) -> Principal:
    if not principal.is_operator:
        raise Forbidden("この画面は運営のみが利用できます")
    return principal


MaybeWebUser = Annotated[Principal | None, Depends(optional_web_user)]
WebUser = Annotated[Principal, Depends(web_user)]
WebMember = Annotated[Principal, Depends(web_member)]
WebOperator = Annotated[Principal, Depends(web_operator)]
