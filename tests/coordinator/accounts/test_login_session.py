"""Login CSRF (another site may not sign a browser in) and session rotation (a login ends the
browser's previous session and nothing else)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from coordinator.accounts import service as accounts
from coordinator.dependencies import SESSION_COOKIE
from shared.models import AuthToken

PASSWORD = "password-123"


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"origin": "http://testserver.evil.example", "sec-fetch-site": "cross-site"},
    ],
)
@pytest.mark.parametrize("path", ["/login", "/api/v1/auth/session"])
def test_a_login_posted_from_another_site_is_refused(client, make_user, headers, path) -> None:  # type: ignore[no-untyped-def]
    user, _ = make_user("member")
    credentials = {"email": user.email, "password": PASSWORD}
    if path == "/login":
        resp = client.post(path, data=credentials, headers=headers, follow_redirects=False)
    else:
        resp = client.post(path, json=credentials, headers=headers)
    assert resp.status_code == 403
    assert SESSION_COOKIE not in resp.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"origin": "http://testserver", "sec-fetch-site": "same-origin"},
        {"sec-fetch-site": "none"},
    ],
)
def test_our_own_login_page_still_logs_in(client, make_user, headers) -> None:  # type: ignore[no-untyped-def]
    user, _ = make_user("member")
    resp = client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD},
        headers=headers,
        follow_redirects=False,
    )
    assert resp.status_code == 303 and SESSION_COOKIE in resp.headers["set-cookie"]


def test_a_login_rotates_the_browser_session_and_nothing_else(db, client, make_user) -> None:  # type: ignore[no-untyped-def]
    user, api_headers = make_user("member")
    # A session planted in the browser (fixation) and another one on the user's phone.
    planted, _ = accounts.issue_token(db, user, "session")
    phone, _ = accounts.issue_token(db, user, "session")
    db.commit()
    client.cookies.set(SESSION_COOKIE, planted)
    resp = client.post(
        "/login", data={"email": user.email, "password": PASSWORD}, follow_redirects=False
    )
    assert resp.status_code == 303
    new = resp.cookies.get(SESSION_COOKIE)
    assert new and new != planted
    assert accounts.resolve_token(db, planted, "session") is None  # the old id is gone
    assert accounts.resolve_token(db, phone, "session") is not None  # other sessions stay
    assert accounts.resolve_token(db, new, "session") is not None
    assert client.get("/api/v1/me", headers=api_headers).status_code == 200  # API token stays
    count = db.scalar(select(func.count()).where(AuthToken.user_id == user.id))
    assert count == 3  # phone, the API token, the new session
