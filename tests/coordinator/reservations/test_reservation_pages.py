"""予約履歴 as a member reads it: each row offers only the buttons that work for its status
(and each offered button does work), 担当者名 is the approving operator (or 未割当) with the
member's own name under 会社名, 更新日 moves with 送信済数; the bank-transfer 振込先 on the
order page; /favicon.ico is served."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from coordinator.reservations import service
from shared import clock, items
from shared.config import get_settings
from tests.builders import (
    MemberEnv,
    make_operator,
    principal_of,
)
from tests.support.web import csrf_of, login

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _row(html: str, reservation_id: int) -> str:
    match = re.search(rf'<tr[^>]*id="reservation-{reservation_id}".*?</tr>', html, re.S)
    assert match, f"no row for reservation {reservation_id}"
    return match.group(0)


def _buttons(row: str) -> set[str]:
    return set(re.findall(r"<button[^>]*>([^<]+)</button>", row))


def _reserve(db: Session, env: MemberEnv) -> int:
    r = env.reserve(db, fresh_list=600)
    db.commit()
    return r.id


def test_history_rows_offer_the_buttons_that_work_for_their_status(
    client, db: Session, make_user
) -> None:  # type: ignore[no-untyped-def]
    clock.set_clock(T0)
    env = MemberEnv(db, make_user, tickets=3_000, prospects=0)
    op_user, _ = make_operator(db, make_user)
    operator = principal_of(op_user)
    pending, approved, paused, emptied, cancelled = (_reserve(db, env) for _ in range(5))
    for rid in (approved, paused, emptied, cancelled):
        service.approve(db, operator, rid)
    service.pause(db, env.principal, paused)
    service.pause(db, env.principal, emptied, remove_list=True)
    service.cancel(db, env.principal, cancelled)
    db.commit()
    token = login(client, env.user)
    html = client.get("/reservations").text
    expected = {
        pending: {"追加する", "キャンセル"},
        approved: {"一時停止", "追加する", "キャンセル"},
        paused: {"再開", "追加する", "キャンセル"},
        emptied: {"追加する", "キャンセル"},  # 再開 would be refused (queue_empty)
        cancelled: set(),
    }
    for rid, buttons in expected.items():
        assert _buttons(_row(html, rid)) == buttons, rid
    assert "リストを移行すると再開できます" in _row(html, emptied)
    # 担当者名: the approving operator, or 未割当; the member's own name stays under 会社名.
    assert "未割当" in _row(html, pending)
    assert op_user.name in _row(html, approved)
    assert env.user.name in _row(html, approved)
    # Every button shown works: the 承認済み row's キャンセル and 一時停止, the 一時停止 row's 再開.
    for action, rid in (("cancel", approved), ("resume", paused), ("cancel", pending)):
        resp = client.post(f"/reservations/{rid}/{action}", data={"csrf_token": token})
        assert resp.status_code == 200 and resp.url.path == "/reservations", (action, resp.text)
    html = client.get("/reservations").text
    assert "キャンセル" in _row(html, approved) and not _buttons(_row(html, approved))
    assert "一時停止" in _buttons(_row(html, paused))


def test_update_date_moves_with_the_sent_count(client, db: Session, make_user) -> None:  # type: ignore[no-untyped-def]
    clock.set_clock(T0)
    env = MemberEnv(db, make_user, tickets=1_000, prospects=0)
    op_user, _ = make_operator(db, make_user)
    rid = _reserve(db, env)
    service.approve(db, principal_of(op_user), rid)
    db.commit()
    clock.set_clock(T0 + timedelta(hours=3))
    [(item_id, token)] = items.claim(db, rid, 1)
    items.start(db, item_id, token, "w1")
    items.enter_submitting(db, item_id, token)
    items.record_outcome(db, item_id, token, items.Outcome("sent", submitted=True))
    db.commit()
    data = client.get(f"/api/v1/reservations/{rid}", headers=env.headers).json()
    assert data["sent"] == 1
    assert datetime.fromisoformat(data["updated_at"]) == T0 + timedelta(hours=3)
    assert data["staff_name"] == op_user.name
    login(client, env.user)
    assert "2026/03/02 21:00" in _row(client.get("/reservations").text, rid)  # JST


def test_bank_transfer_orders_show_the_account_on_the_order_page(
    client, make_user, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MIKOMI_BANK_ACCOUNT", "みこみ銀行 本店営業部\\n普通 1234567 ミコミ（カ")
    get_settings.cache_clear()
    try:
        user, _ = make_user("member", company="振込テスト株式会社")
        token = login(client, user)
        assert 'id="bank-account"' not in client.get("/orders").text
        form = {
            "csrf_token": token,
            "company_name": "振込テスト株式会社",
            "quantity": "1000",
            "contact_name": "振込 太郎",
            "payment_method": "bank_transfer",
        }
        confirm = client.post("/orders/new", data=form)
        assert confirm.status_code == 200, confirm.text
        done = client.post("/orders/confirm", data={**form, "csrf_token": csrf_of(confirm.text)})
        assert done.url.path == "/orders", done.text
        section = re.search(
            r'<section class="card" id="bank-account">.*?</section>', done.text, re.S
        )
        assert section, "no 振込先 on the order page"
        assert "みこみ銀行 本店営業部<br>普通 1234567 ミコミ（カ" in section.group(0)
        assert "支払期限" in section.group(0)
    finally:
        get_settings.cache_clear()


def test_favicon_is_served(client) -> None:  # type: ignore[no-untyped-def]
    resp = client.get("/favicon.ico")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/x-icon"
    assert resp.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert '<link rel="icon" href="/favicon.ico"' in client.get("/login").text
