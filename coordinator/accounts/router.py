from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from coordinator.accounts import service
from coordinator.accounts.cookies import (
    check_login_origin,
    clear_session_cookie,
    client_ip,
    presented_token,
    set_session_cookie,
)
from coordinator.accounts.ratelimit import LoginLimiter, get_login_limiter
from coordinator.accounts.schemas import (
    Me,
    SessionResponse,
    TokenRequest,
    TokenResponse,
)
from coordinator.dependencies import DB, SESSION_COOKIE, CurrentUser
from shared.models import User

router = APIRouter(prefix="/api/v1", tags=["auth"])

Limiter = Annotated[LoginLimiter, Depends(get_login_limiter)]


def _me(user: service.Principal | User, csrf_token: str | None = None) -> Me:
    if isinstance(user, service.Principal):
        return Me(
            id=user.user_id,
            email=user.email,
            role=user.role.value,
            member_id=user.member_id,
            name=user.name,
            csrf_token=user.csrf_token if user.via_cookie else None,
        )
    return Me(
        id=user.id,
        email=user.email,
        role=user.role,
        member_id=user.member_id,
        name=user.name,
        csrf_token=csrf_token,
    )


@router.post("/auth/token", response_model=TokenResponse)
def create_token(body: TokenRequest, request: Request, db: DB, limiter: Limiter) -> TokenResponse:
    login = service.login(
        db, body.email, body.password, kind="api", client_ip=client_ip(request), limiter=limiter
    )
    return TokenResponse(access_token=login.token)


@router.post("/auth/session", response_model=SessionResponse)
def create_session(
    body: TokenRequest, request: Request, response: Response, db: DB, limiter: Limiter
) -> SessionResponse:
    """Browser login: sets the ``mikomi_session`` cookie and returns the CSRF token."""
    check_login_origin(request)
    login = service.login(
        db,
        body.email,
        body.password,
        kind="session",
        client_ip=client_ip(request),
        limiter=limiter,
        replaces=request.cookies.get(SESSION_COOKIE),
    )
    set_session_cookie(response, login.token)
    return SessionResponse(
        user=_me(login.user, login.csrf_token),
        csrf_token=login.csrf_token,
        expires_at=login.expires_at,
    )


@router.post("/auth/logout", status_code=204)
def logout(
    user: CurrentUser,
    request: Request,
    response: Response,
    db: DB,
    everywhere: Annotated[bool, Query(description="revoke every token of this user")] = False,
) -> Response:
    """Revoke the presented token (or, with ``?everywhere=true``, every token of this user).

    Takes no body, so the browser's plain form post (with its ``csrf_token`` field) works."""
    token = presented_token(request) or ""
    service.logout(db, token, everywhere=everywhere, user_id=user.user_id)
    response.status_code = 204
    clear_session_cookie(response)
    return response


@router.get("/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    return _me(user)
