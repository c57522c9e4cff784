"""The web UI: server-rendered pages for members and operators (HTTP only: parse → one service
call → render or redirect). Rules live in the domain services; these routes only show them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response

from coordinator.accounts import service as accounts
from coordinator.accounts.cookies import (
    check_login_origin,
    clear_session_cookie,
    client_ip,
    set_session_cookie,
)
from coordinator.accounts.ratelimit import LoginLimiter, get_login_limiter
from coordinator.dependencies import SESSION_COOKIE
from coordinator.errors import AppError
from coordinator.web import common_pages, member_pages, operator_pages
from coordinator.web.forms import attempt
from coordinator.web.links import see_other
from coordinator.web.rendering import render
from coordinator.web.session import (
    MaybeWebUser,
    WebDB,
    WebRoute,
    _safe_next,
)

router = APIRouter(route_class=WebRoute, include_in_schema=False)


# --- shell: home, login, logout ---------------------------------------------------------------


@router.get("/")
def home(user: MaybeWebUser) -> Response:
    if user is None:
        return see_other("/login")
    return see_other("/operator" if user.is_operator else "/reservations")


@router.get("/login")
def login_page(request: Request, user: MaybeWebUser, next: str = "/") -> Response:
    if user is not None:
        return see_other(_safe_next(next))
    return render(request, "login.html", None, {"next": _safe_next(next)})


@router.post("/login")
def login(
    request: Request,
    db: WebDB,
    limiter: Annotated[LoginLimiter, Depends(get_login_limiter)],
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    try:
        check_login_origin(request)
        with attempt(db):
            result = accounts.login(
                db,
                email,
                password,
                kind="session",
                client_ip=client_ip(request),
                limiter=limiter,
                replaces=request.cookies.get(SESSION_COOKIE),
            )
    except AppError as exc:
        return render(
            request,
            "login.html",
            None,
            {"next": _safe_next(next), "values": {"email": email}, "errors": {"form": exc.message}},
            status_code=exc.status_code,
        )
    response = see_other(_safe_next(next))
    set_session_cookie(response, result.token)
    return response


@router.post("/logout")
def logout(request: Request, db: WebDB, user: MaybeWebUser) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and user is not None:  # user resolved ⇒ the CSRF token was checked
        accounts.logout(db, cookie)
    response = see_other("/login", "logged_out")
    clear_session_cookie(response)
    return response


# The sub-routers' routes are copied in here, so they get WebRoute's login redirect and HTML
# error pages too. The member pages come first: /reservations/new before /reservations/{id}.
router.include_router(member_pages.router)
router.include_router(common_pages.router)
router.include_router(operator_pages.router)
