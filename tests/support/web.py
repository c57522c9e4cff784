"""Using the web UI through the TestClient as a browser would: log in, read the CSRF token."""

from __future__ import annotations

import re
from typing import Any

# The password ``make_user`` gives every user (tests/conftest.py).
PASSWORD = "password-123"

MEMBER_PAGES = [
    "/orders",
    "/orders/new",
    "/scripts",
    "/scripts/new",
    "/prospects",
    "/prospects?has_url=1&keyword=test",
    "/reservations",
    "/reservations/new",
    "/notifications",
]
OPERATOR_PAGES = [
    "/operator",
    "/operator/reservations",
    "/operator/fleet",
    "/operator/in-doubt",
    "/operator/suppression",
    "/operator/prospects/import",
    "/operator/orders",
    "/operator/chats",
    "/notifications",
]


def login(client: Any, user: Any) -> str:
    """Log ``user`` in through the login form; returns the CSRF token of the landing page."""
    resp = client.post(
        "/login", data={"email": user.email, "password": PASSWORD}, follow_redirects=False
    )
    assert resp.status_code == 303, resp.text
    assert "mikomi_session" in resp.headers["set-cookie"]
    assert "HttpOnly" in resp.headers["set-cookie"]
    return csrf_of(client.get(resp.headers["location"]).text)


def csrf_of(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]*)">', html)
    assert match, "page without a csrf meta tag"
    return match.group(1)
