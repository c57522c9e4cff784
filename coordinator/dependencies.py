"""Request dependencies: the database session, who is asking, and what they may do.

Bearer tokens (API) and the session cookie (browser) both resolve to a :class:`Principal`.
Writes authenticated by the cookie must carry the CSRF token (header ``X-CSRF-Token`` or the
form field ``csrf_token``); bearer requests cannot be forged cross-site, so they need none."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from coordinator.accounts.service import Principal, resolve_token
from coordinator.database import get_db
from coordinator.errors import AppError, Forbidden, Unauthorized

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
        form = await request.form()  # Starlette caches it, the endpoint can read it again
        value = form.get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


async def optional_principal(request: Request, db: DB) -> Principal | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        principal = resolve_token(db, auth[7:].strip(), "api")
        if principal is None:
            raise Unauthorized("認証トークンが無効です")
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        principal = resolve_token(db, cookie, "session")
        if principal is None:
            return None
        if request.method not in SAFE_METHODS:
            sent = await _csrf_token_from(request)
            if not sent or not hmac.compare_digest(sent, principal.csrf_token):
                raise AppError(
                    "csrf_failed",
                    "画面の有効期限が切れました。再読み込みしてください",
                    status_code=403,
                )
        return principal
    return None


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized()
    return principal


async def require_member(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if principal.member_id is None:
        raise Forbidden("会員のみが利用できます")
    return principal


async def require_operator(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    if not principal.is_operator:
        raise Forbidden("運営のみが利用できます")
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]
Member = Annotated[Principal, Depends(require_member)]
Operator = Annotated[Principal, Depends(require_operator)]
