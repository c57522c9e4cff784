"""Request dependencies: the database session, who is asking, and what they may do.

Bearer tokens (API) and the session cookie (browser) both resolve to a :class:`Principal`.
Writes authenticated by the cookie must carry the CSRF token (header ``X-CSRF-Token`` or the
form field ``csrf_token``); bearer requests cannot be forged cross-site, so they need none."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from coordinator.accounts import access
from coordinator.accounts.service import Principal, resolve_token
from coordinator.database import get_db, read_form
from coordinator.errors import AppError, Unauthorized

SESSION_COOKIE = "mikomi_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# scope="function": the transaction commits before the response leaves, so a client never
# reads stale state right after a write and a failed commit is never reported as a success.
DB = Annotated[Session, Depends(get_db, scope="function")]


async def _csrf_token_from(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await read_form(request)  # kept: the endpoint reads it again for nothing
        value = form.get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


async def identified(request: Request, db: DB) -> Principal | None:
    """Who is asking, from the bearer token or the session cookie, without reading the body.

    The CSRF check of a cookie write may have to read a form; it runs only after the role
    check (:func:`_checked`), so nobody can make the server read (and spool to disk) a large
    upload on an endpoint they may not use."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        principal = resolve_token(db, auth[7:].strip(), "api")
        if principal is None:
            raise Unauthorized("認証トークンが無効です")
        return principal
    principal = session_principal(request, db)
    request.state.by_session_cookie = principal is not None
    return principal


async def _checked(request: Request, principal: Principal) -> Principal:
    if getattr(request.state, "by_session_cookie", False):
        await check_csrf(request, principal)
    return principal


async def optional_principal(
    request: Request, principal: Annotated[Principal | None, Depends(identified)]
) -> Principal | None:
    return None if principal is None else await _checked(request, principal)


async def _signed_in(principal: Annotated[Principal | None, Depends(identified)]) -> Principal:
    if principal is None:
        raise Unauthorized()
    return principal


def session_principal(request: Request, db: Session) -> Principal | None:
    """Who the session cookie belongs to (None: no cookie, or an ended session)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    return resolve_token(db, cookie, "session") if cookie else None


async def check_csrf(request: Request, principal: Principal) -> None:
    """A write authenticated by the session cookie must carry the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    sent = await _csrf_token_from(request)
    if not sent or not hmac.compare_digest(sent, principal.csrf_token):
        raise AppError(
            "csrf_failed",
            "画面の有効期限が切れました。再読み込みしてから、もう一度操作してください",
            status_code=403,
        )


async def current_principal(
    request: Request, principal: Annotated[Principal, Depends(_signed_in)]
) -> Principal:
    return await _checked(request, principal)


async def require_member(
    request: Request, principal: Annotated[Principal, Depends(_signed_in)]
) -> Principal:
    access.member_id_of(principal)  # the role first, then the CSRF token (which may read a form)
    return await _checked(request, principal)


async def require_operator(
    request: Request, principal: Annotated[Principal, Depends(_signed_in)]
) -> Principal:
    access.operator_only(principal)
    return await _checked(request, principal)


CurrentUser = Annotated[Principal, Depends(current_principal)]
Member = Annotated[Principal, Depends(require_member)]
Operator = Annotated[Principal, Depends(require_operator)]
