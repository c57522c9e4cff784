"""The browser session cookie (``mikomi_session``): httponly, SameSite=Lax, Secure over HTTPS.

The web UI's ``POST /login`` form and the JSON ``POST /api/v1/auth/session`` both set it here."""

from __future__ import annotations

from fastapi import Request, Response

from coordinator.accounts.service import SESSION_TTL
from coordinator.dependencies import SESSION_COOKIE
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
