"""The web UI through the TestClient: login, CSRF, pages per role, forms that keep input,
and no resource from outside the machine."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from tests.support.web import MEMBER_PAGES, OPERATOR_PAGES, PASSWORD, csrf_of, login

LOCAL_HOSTS = {"127.0.0.1", "localhost", "testserver", "::1"}


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
    data = {
        "company_name": "A社",
        "quantity": "2000",
        "contact_name": "山田",
        "payment_method": "card",
    }
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
        data={
            "csrf_token": token,
            "company_name": "TEST株式会社",
            "quantity": "1500",
            "contact_name": "テスト 太郎",
            "payment_method": "card",
        },
    )
    assert resp.status_code == 400
    assert 'id="err-quantity"' in resp.text
    assert "1,000件単位" in resp.text or "1000件単位" in resp.text
    assert 'value="TEST株式会社"' in resp.text and 'value="テスト 太郎"' in resp.text
    assert 'value="1500"' in resp.text


def test_order_paid_by_test_card_is_active_with_remaining(client, make_user) -> None:  # type: ignore[no-untyped-def]
    member, _ = make_user("member")
    token = login(client, member)
    step1 = {
        "csrf_token": token,
        "company_name": "TEST株式会社",
        "quantity": "2000",
        "contact_name": "テスト 太郎",
        "payment_method": "card",
    }
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


# --- reservations through the pages ----------------------------------------------------------


def _seed_prospects(db, n: int, prefix: str) -> None:  # type: ignore[no-untyped-def]
    from shared.models import Prospect

    db.add_all(
        Prospect(
            company=f"{prefix}株式会社{i}",
            url=f"http://{prefix}{i}.example.test/",
            domain=f"{prefix}{i}.example.test",
            industry="製造業",
            prefecture="東京都",
            employees=10 + i % 50,
        )
        for i in range(n)
    )
    db.flush()


def _member_with_tickets_and_script(client, db, make_user):  # type: ignore[no-untyped-def]
    from shared.models import Script

    member, _ = make_user("member")
    token = login(client, member)
    step1 = {
        "csrf_token": token,
        "company_name": "TEST株式会社",
        "quantity": "2000",
        "contact_name": "テスト 太郎",
        "payment_method": "card",
        "card_number": "4242424242424242",
    }
    assert client.post("/orders/confirm", data=step1).url.path == "/orders"
    script = Script(
        member_id=member.member_id,
        name="顧客獲得スクリプト",
        content={"name": "顧客獲得スクリプト", "subject": "ご提案", "body": "{{company}}"},
    )
    db.add(script)
    db.flush()
    return member, token, script


def test_reservation_form_rejects_beside_the_fields_and_keeps_input(client, db, make_user) -> None:  # type: ignore[no-untyped-def]
    import uuid

    prefix = "rf" + uuid.uuid4().hex[:6]
    _seed_prospects(db, 700, prefix)
    member, token, script = _member_with_tickets_and_script(client, db, make_user)
    list_url = f"http://127.0.0.1:8000/prospects?keyword={prefix}&has_url=1"
    page = client.get("/reservations/new", params={"list_url": list_url})
    assert f'value="{list_url.replace("&", "&amp;")}"' in page.text
    assert "300 件以上 100 件単位" in page.text
    base = {"csrf_token": token, "list_url": list_url, "script_id": str(script.id)}
    for count, senders, field in (
        ("250", "1", "count"),
        ("350", "1", "count"),
        ("2000", "5", "senders"),
    ):
        resp = client.post("/reservations/new", data={**base, "count": count, "senders": senders})
        assert resp.status_code >= 400, (count, senders)
        assert f'id="err-{field}"' in resp.text, (count, senders, resp.text[-3000:])
        assert f'value="{count}"' in resp.text and f'value="{senders}"' in resp.text
        assert 'value="' + list_url.replace("&", "&amp;") + '"' in resp.text
    # without URL有り the list is refused beside the list URL
    resp = client.post(
        "/reservations/new",
        data={**base, "count": "300", "senders": "1", "list_url": f"keyword={prefix}"},
    )
    assert 'id="err-list_url"' in resp.text
    resp = client.post("/reservations/new", data={**base, "count": "300", "senders": "1"})
    assert resp.url.path == "/reservations", resp.text[-2000:]
    assert "申請中" in resp.text
    orders = client.get("/orders").text
    assert re.search(r'id="remaining">1,700件<', orders)


def test_pause_change_list_resume_and_addition(client, db, make_user) -> None:  # type: ignore[no-untyped-def]
    import uuid

    from shared.models import Reservation

    prefix = "pc" + uuid.uuid4().hex[:6]
    _seed_prospects(db, 1400, prefix)
    member, token, script = _member_with_tickets_and_script(client, db, make_user)
    list_url = f"/prospects?keyword={prefix}&has_url=1&employees_max=34"
    resp = client.post(
        "/reservations/new",
        data={
            "csrf_token": token,
            "count": "300",
            "senders": "1",
            "list_url": list_url,
            "script_id": str(script.id),
        },
    )
    assert resp.url.path == "/reservations", resp.text[-2000:]
    reservation = db.query(Reservation).filter_by(member_id=member.member_id).one()
    queued_before = reservation.queued

    operator, _ = make_user("operator")
    from fastapi.testclient import TestClient

    with TestClient(client.app) as op:
        op_token = login(op, operator)
        assert f"pending-{reservation.id}" in op.get("/operator").text
        resp = op.post(
            f"/operator/reservations/{reservation.id}/approve", data={"csrf_token": op_token}
        )
        assert resp.status_code == 200 and "承認しました" in resp.text

        history = client.get("/reservations").text
        assert "承認済み" in history and "現在のリストを送信担当者から削除しますか？" in history
        resp = client.post(
            f"/reservations/{reservation.id}/pause", data={"csrf_token": token, "remove_list": "1"}
        )
        db.refresh(reservation)
        assert reservation.status == "paused" and reservation.queued == 0
        assert "再開" in resp.text
        # 見込客リスト変更: a new search moved into the paused reservation
        page = client.get(f"/prospects?keyword={prefix}&has_url=1&employees_min=35")
        assert "見込客リスト変更" in page.text
        resp = client.post(
            f"/prospects/transfer?keyword={prefix}&has_url=1&employees_min=35",
            data={
                "csrf_token": token,
                "mode": "change",
                "count": "400",
                "reservation_id": str(reservation.id),
                "script_id": str(script.id),
                "list_url": f"/prospects?keyword={prefix}&has_url=1&employees_min=35",
            },
        )
        assert resp.url.path == "/reservations", resp.text[-1500:]
        db.refresh(reservation)
        assert reservation.queued == 400 and queued_before > 0
        resp = client.post(f"/reservations/{reservation.id}/resume", data={"csrf_token": token})
        db.refresh(reservation)
        assert reservation.status == "approved"
        resp = client.post(
            f"/reservations/{reservation.id}/additions", data={"csrf_token": token, "count": "100"}
        )
        assert "予約数の追加を申請しました" in resp.text
        approvals = op.get("/operator").text
        match = re.search(r'id="addition-(\d+)"', approvals)
        assert match
        op.post(f"/operator/additions/{match.group(1)}/approve", data={"csrf_token": op_token})
        db.refresh(reservation)
        assert reservation.count == 400
        # a bad transfer keeps the dialog open with the message and the typed count
        resp = client.post(
            f"/prospects/transfer?keyword={prefix}&has_url=1",
            data={
                "csrf_token": token,
                "mode": "add",
                "count": "abc",
                "reservation_id": str(reservation.id),
                "script_id": str(script.id),
                "list_url": list_url,
            },
        )
        assert resp.status_code == 400 and 'id="transfer-error"' in resp.text
        assert "data-open" in resp.text
        detail = client.get(f"/reservations/{reservation.id}")
        assert detail.status_code == 200 and "結果の内訳" in detail.text
        csv_resp = client.get(f"/reservations/{reservation.id}/results.csv")
        assert csv_resp.status_code == 200 and csv_resp.text.startswith("\ufeff")
        # the chat seen from both sides, and the operators' inbox
        client.post(
            f"/reservations/{reservation.id}/chat",
            data={"csrf_token": token, "body": "リストの件でご相談です"},
        )
        inbox = op.get("/operator/chats")
        assert inbox.status_code == 200 and f"/reservations/{reservation.id}/chat" in inbox.text
        assert "リストの件でご相談です" in op.get(f"/reservations/{reservation.id}/chat").text
        # an operator pauses through the member's route and comes back to the operator's page,
        # whose history lists the member's pause and resume
        resp = op.post(f"/reservations/{reservation.id}/pause", data={"csrf_token": op_token})
        assert resp.url.path == f"/operator/reservations/{reservation.id}"
        db.refresh(reservation)
        assert reservation.status == "paused"
        assert "再開しました" in resp.text and "一時停止しました" in resp.text


def test_bank_transfer_is_confirmed_by_an_operator(client, make_user) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    member, _ = make_user("member")
    token = login(client, member)
    step1 = {
        "csrf_token": token,
        "company_name": "振込株式会社",
        "quantity": "1000",
        "contact_name": "振込 花子",
        "payment_method": "bank_transfer",
    }
    confirm = client.post("/orders/new", data=step1)
    assert "銀行振込" in confirm.text and "22,000円" in confirm.text
    done = client.post("/orders/confirm", data=step1)
    assert done.url.path == "/orders" and "入金待ち" in done.text
    assert re.search(r'id="remaining">0件<', done.text)
    order_id = re.search(r'data-order="(\d+)"', done.text).group(1)  # type: ignore[union-attr]
    operator, _ = make_user("operator")
    with TestClient(client.app) as op:
        op_token = login(op, operator)
        page = op.get("/operator/orders")
        assert f'id="order-{order_id}"' in page.text and "入金確認" in page.text
        resp = op.post(
            f"/operator/orders/{order_id}/confirm-payment", data={"csrf_token": op_token}
        )
        assert "入金を確認しました" in resp.text
    after = client.get("/orders").text
    assert "作業中" in after and re.search(r'id="remaining">1,000件<', after)


def test_operator_suppression_list_keeps_input_on_error(client, make_user) -> None:  # type: ignore[no-untyped-def]
    import uuid

    operator, _ = make_user("operator")
    token = login(client, operator)
    bad = client.post(
        "/operator/suppression",
        data={
            "csrf_token": token,
            "domain": "not a domain",
            "reason": "complaint",
            "note": "電話で苦情",
        },
    )
    assert bad.status_code == 400 and 'id="err-domain"' in bad.text
    assert 'value="not a domain"' in bad.text and 'value="電話で苦情"' in bad.text
    domain = f"ng-{uuid.uuid4().hex[:8]}.example.jp"
    ok = client.post(
        "/operator/suppression",
        data={
            "csrf_token": token,
            "domain": f"https://www.{domain}/contact",
            "reason": "complaint",
        },
    )
    assert "配信停止リストに追加しました" in ok.text and domain in ok.text
    gone = client.post(
        "/operator/suppression/delete",
        data={"csrf_token": token, "domain": domain, "member_id": ""},
    )
    assert "配信停止リストから削除しました" in gone.text


def test_a_member_cannot_open_another_members_reservation(client, db, make_user) -> None:  # type: ignore[no-untyped-def]
    import uuid

    prefix = "iso" + uuid.uuid4().hex[:6]
    _seed_prospects(db, 700, prefix)
    owner, token, script = _member_with_tickets_and_script(client, db, make_user)
    resp = client.post(
        "/reservations/new",
        data={
            "csrf_token": token,
            "count": "300",
            "senders": "1",
            "list_url": f"keyword={prefix}&has_url=1",
            "script_id": str(script.id),
        },
    )
    rid = re.search(r'data-live="(\d+)"', resp.text).group(1)  # type: ignore[union-attr]
    from fastapi.testclient import TestClient

    other, _ = make_user("member", company="他社株式会社")
    with TestClient(client.app) as intruder:
        login(intruder, other)
        for path in (
            f"/reservations/{rid}",
            f"/reservations/{rid}/chat",
            f"/reservations/{rid}/results.csv",
        ):
            resp = intruder.get(path)
            assert resp.status_code == 404, path
        assert f'data-live="{rid}"' not in intruder.get("/reservations").text


def test_prospect_import_refuses_a_bad_header_beside_the_file_field(client, make_user) -> None:  # type: ignore[no-untyped-def]
    operator, _ = make_user("operator")
    token = login(client, operator)
    resp = client.post(
        "/operator/prospects/import",
        data={"csrf_token": token},
        files={"file": ("bad.csv", "name,website\nA社,http://a.example\n".encode(), "text/csv")},
    )
    assert resp.status_code >= 400
    assert 'id="err-file"' in resp.text
    resp = client.post("/operator/prospects/import", data={"csrf_token": token})
    assert 'id="err-file"' in resp.text and "CSVファイルを選択してください" in resp.text


def test_import_history_says_why_a_job_failed(client, db, make_user) -> None:  # type: ignore[no-untyped-def]
    from coordinator.prospects import importer

    operator, _ = make_user("operator")
    login(client, operator)
    job = importer.create_job(db, filename="cut.csv", created_by=operator.id)
    job.progress_at = job.created_at - importer.STALE_AFTER - timedelta(seconds=1)
    db.commit()
    assert importer.fail_interrupted(db, job.created_at) == 1
    db.commit()
    html = client.get("/operator/prospects/import").text
    row = re.search(rf'<tr data-import="{job.id}" data-status="failed">.*?</tr>', html, re.S)
    assert row is not None
    assert "失敗" in row.group(0) and "取り込みが中断されました" in row.group(0)
    # The live poll of the page gets the same reason.
    polled = client.get(f"/operator/prospects/import/{job.id}.json").json()
    assert polled["status"] == "failed"
    assert polled["failure_reason"].startswith("取り込みが中断されました")


def test_list_addition_request_shows_the_suggested_amount(client, db, make_user) -> None:  # type: ignore[no-untyped-def]
    from shared.notify import notify

    member, _ = make_user("member")
    notify(
        db,
        kind="list_addition_request",
        member_id=member.member_id,
        title="リスト追加依頼：予約No.1に151件以上のリスト追加をお願いします",
        data={"suggested": 151, "queued": 449, "remaining": 300},
    )
    token = login(client, member)
    page = client.get("/notifications")
    assert "リスト追加依頼" in page.text and "151件以上のリスト追加をお願いします" in page.text
    assert "未読 1件" in page.text
    after = client.post("/notifications/read-all", data={"csrf_token": token})
    assert "未読 0件" in after.text
