"""The web UI through the TestClient: login, CSRF, pages per role, forms that keep input,
and no resource from outside the machine."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

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
    "/notifications",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "testserver", "::1"}


def login(client, user) -> str:  # type: ignore[no-untyped-def]
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


@pytest.mark.parametrize("path", sorted(set(MEMBER_PAGES + OPERATOR_PAGES)))
def test_anonymous_is_sent_to_login(client, path) -> None:  # type: ignore[no-untyped-def]
    resp = client.get(path, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/login?next=/")


def test_login_page_and_wrong_password_keeps_email(client, make_user) -> None:  # type: ignore[no-untyped-def]
    user, _ = make_user("member")
    assert "ログイン" in client.get("/login").text
    resp = client.post("/login", data={"email": user.email, "password": "wrong-password"})
    assert resp.status_code == 401
    assert "メールアドレスまたはパスワードが正しくありません" in resp.text
    assert f'value="{user.email}"' in resp.text
    assert "mikomi_session" not in resp.headers.get("set-cookie", "")


def test_login_lands_by_role_and_logout_ends_the_session(client, make_user) -> None:  # type: ignore[no-untyped-def]
    member, _ = make_user("member")
    resp = client.post("/login", data={"email": member.email, "password": PASSWORD})
    assert resp.url.path == "/reservations"
    assert "予約履歴" in resp.text
    token = csrf_of(resp.text)
    resp = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 303
    assert client.get("/reservations", follow_redirects=False).status_code == 303

    operator, _ = make_user("operator")
    resp = client.post("/login", data={"email": operator.email, "password": PASSWORD})
    assert resp.url.path == "/operator"
    assert "承認待ち" in resp.text


def test_login_next_never_leaves_the_site(client, make_user) -> None:  # type: ignore[no-untyped-def]
    member, _ = make_user("member")
    resp = client.post(
        "/login",
        data={"email": member.email, "password": PASSWORD, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert resp.headers["location"] == "/"


def test_post_without_csrf_is_refused(client, make_user) -> None:  # type: ignore[no-untyped-def]
    member, _ = make_user("member")
    token = login(client, member)
    data = {"company_name": "A社", "quantity": "2000", "contact_name": "山田", "payment_method": "card"}
    resp = client.post("/orders/new", data=data)
    assert resp.status_code == 403
    assert "画面の有効期限が切れました" in resp.text
    resp = client.post("/orders/new", data={**data, "csrf_token": "forged"})
    assert resp.status_code == 403
    resp = client.post("/orders/new", data={**data, "csrf_token": token})
    assert resp.status_code == 200
    assert "決済内容の確認" in resp.text


def test_member_pages_render_and_operator_pages_refuse_members(client, make_user) -> None:  # type: ignore[no-untyped-def]
    member, _ = make_user("member")
    login(client, member)
    for path in MEMBER_PAGES:
        resp = client.get(path)
        assert resp.status_code == 200, (path, resp.text[:500])
        assert_no_external_urls(path, resp.text)
    resp = client.get("/operator/fleet")
    assert resp.status_code == 403
    assert "運営のみ" in resp.text


def test_operator_pages_render_and_member_pages_refuse_operators(client, make_user) -> None:  # type: ignore[no-untyped-def]
    operator, _ = make_user("operator")
    login(client, operator)
    for path in OPERATOR_PAGES:
        resp = client.get(path)
        assert resp.status_code == 200, (path, resp.text[:500])
        assert_no_external_urls(path, resp.text)
    assert client.get("/orders").status_code == 403


def assert_no_external_urls(path: str, html: str) -> None:
    for attr, url in re.findall(r'\b(src|href|action)\s*=\s*["\']([^"\']+)["\']', html):
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") or url.startswith("//"):
            assert parts.hostname in LOCAL_HOSTS, f"{path}: {attr}={url} leaves the machine"
    assert "@import url(http" not in html


def test_static_assets_have_no_external_urls(client) -> None:  # type: ignore[no-untyped-def]
    for asset in ("/static/app.css", "/static/app.js"):
        resp = client.get(asset)
        assert resp.status_code == 200
        assert not re.search(r"https?://", resp.text), asset


def test_order_form_keeps_input_and_shows_the_error_beside_the_field(client, make_user) -> None:  # type: ignore[no-untyped-def]
    member, _ = make_user("member")
    token = login(client, member)
    resp = client.post(
        "/orders/new",
        data={"csrf_token": token, "company_name": "TEST株式会社", "quantity": "1500",
              "contact_name": "テスト 太郎", "payment_method": "card"},
    )
    assert resp.status_code == 400
    assert 'id="err-quantity"' in resp.text
    assert "1,000件単位" in resp.text or "1000件単位" in resp.text
    assert 'value="TEST株式会社"' in resp.text and 'value="テスト 太郎"' in resp.text
    assert 'value="1500"' in resp.text


def test_order_paid_by_test_card_is_active_with_remaining(client, make_user) -> None:  # type: ignore[no-untyped-def]
    member, _ = make_user("member")
    token = login(client, member)
    step1 = {"csrf_token": token, "company_name": "TEST株式会社", "quantity": "2000",
             "contact_name": "テスト 太郎", "payment_method": "card"}
    confirm = client.post("/orders/new", data=step1)
    assert "2,000件" in confirm.text and "44,000円" in confirm.text
    assert "クレジットカード決済" in confirm.text
    bad = client.post("/orders/confirm", data={**step1, "card_number": "1234"})
    assert bad.status_code in (400, 402)
    assert 'id="err-card_number"' in bad.text
    assert 'value="1234"' in bad.text
    done = client.post("/orders/confirm", data={**step1, "card_number": "4242 4242 4242 4242"})
    assert done.status_code == 200
    assert done.url.path == "/orders"
    assert "決済が完了しました" in done.text
    assert "作業中" in done.text
    assert re.search(r'id="remaining">2,000件<', done.text)
    assert re.search(r'id="total">2,000件<', done.text)
