"""Who is using the browser: the session cookie, its CSRF token, and what a page needs.

Pages answer an anonymous visitor with a redirect to the login page, and a refused action with
an HTML page (not the JSON of the API): :class:`WebRoute` turns both exceptions into pages."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from coordinator.accounts import access
from coordinator.accounts.service import Principal
from coordinator.database import get_db
from coordinator.dependencies import SAFE_METHODS, check_csrf, session_principal
from coordinator.errors import AppError
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


async def _web_session(request: Request, db: WebDB) -> Principal | None:
    """The session cookie's user, without reading the body (the CSRF check comes after the
    role check, see coordinator/dependencies.py ``identified``)."""
    principal = session_principal(request, db)
    if principal is not None:
        # For the error page: it shows who is signed in and rolls the request's rows back.
        request.state.web_user = principal
        request.state.web_db = db
    return principal


async def optional_web_user(
    request: Request, principal: Annotated[Principal | None, Depends(_web_session)]
) -> Principal | None:
    if principal is not None:
        await check_csrf(request, principal)
    return principal


async def _web_signed_in(
    principal: Annotated[Principal | None, Depends(_web_session)],
) -> Principal:
    if principal is None:
        raise LoginRequired()
    return principal


async def web_user(
    request: Request, principal: Annotated[Principal, Depends(_web_signed_in)]
) -> Principal:
    await check_csrf(request, principal)
    return principal


async def web_member(
    request: Request, principal: Annotated[Principal, Depends(_web_signed_in)]
) -> Principal:
    access.member_id_of(principal)
    await check_csrf(request, principal)
    return principal


async def web_operator(
    request: Request, principal: Annotated[Principal, Depends(_web_signed_in)]
) -> Principal:
    access.operator_only(principal)
    await check_csrf(request, principal)
    return principal


MaybeWebUser = Annotated[Principal | None, Depends(optional_web_user)]
WebUser = Annotated[Principal, Depends(web_user)]
WebMember = Annotated[Principal, Depends(web_member)]
WebOperator = Annotated[Principal, Depends(web_operator)]
