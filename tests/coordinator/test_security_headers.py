"""Every page and API answer carries the browser's security headers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("path", ["/login", "/healthz", "/api/v1/orders", "/no-such-page"])
def test_every_answer_has_the_headers(client, path: str) -> None:  # type: ignore[no-untyped-def]
    resp = client.get(path, follow_redirects=False)
    csp = resp.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    )
    assert "frame-ancestors 'none'" in csp
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in resp.headers  # plain http: HSTS means nothing


def test_hsts_over_https(app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="https://testserver") as secure:
        resp = secure.get("/login")
    assert resp.headers["strict-transport-security"].startswith("max-age=31536000")


def test_pages_have_no_inline_scripts(client, make_user) -> None:  # type: ignore[no-untyped-def]
    # The CSP forbids inline scripts: a page with one would break in the browser.
    import re

    user, _ = make_user("member")
    for path in ("/login", "/reservations", "/orders", "/prospects", "/scripts"):
        if path != "/login":
            login = {"email": user.email, "password": "password-123"}
            assert client.post("/api/v1/auth/session", json=login).status_code == 200
        resp = client.get(path, follow_redirects=False)
        assert resp.status_code == 200, path
        html = resp.text
        for attrs in re.findall(r"<script([^>]*)>", html):
            assert "src=" in attrs or 'type="application/json"' in attrs, (path, attrs)
        assert not re.search(r"\son(click|load|change|submit)=", html), path
