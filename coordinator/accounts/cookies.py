"""The browser session cookie (``mikomi_session``): httponly, SameSite=Lax, Secure over HTTPS.

The web UI's ``POST /login`` form and the JSON ``POST /api/v1/auth/session`` both set it here."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request, Response

from coordinator.accounts.service import SESSION_TTL
from coordinator.dependencies import SESSION_COOKIE
from coordinator.errors import AppError
from shared.config import get_settings


def set_session_cookie(response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=get_settings().public_base_url.startswith("https://"),
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


def presented_token(request: Request) -> str | None:
    """The raw credential of this request: the bearer token, else the session cookie."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


def client_ip(request: Request) -> str | None:
    # uvicorn runs with proxy_headers, so a trusted proxy's X-Forwarded-For is already applied.
    return request.client.host if request.client else None


def check_login_origin(request: Request) -> None:
    """Login CSRF: another site must not sign a visitor's browser in (to an account of its
    own, to watch what the visitor then types). Browsers say where a form post comes from
    (``Sec-Fetch-Site``, ``Origin``); a login from anywhere but our own pages is refused.
    Clients that send neither (scripts, the API) are not browsers and cannot be forged."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise _foreign_login()
    origin = request.headers.get("origin")
    if origin is None:
        return
    ours = {request.headers.get("host", ""), urlsplit(get_settings().public_base_url).netloc}
    if origin == "null" or urlsplit(origin).netloc not in ours:
        raise _foreign_login()


def _foreign_login() -> AppError:
    return AppError(
        "login_csrf",
        "他のサイトからのログインは受け付けていません。ログイン画面からログインしてください",
        status_code=403,
    )
