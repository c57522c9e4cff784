"""Notifications: in-app rows over the API, and e-mail received by a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from mikomi.supervisor import free_port
from shared import notify
from shared.config import Settings
from shared.models import Notification


def test_member_notification_is_emailed_once_to_the_members_users(
    db: Session, smtp, make_user
) -> None:  # type: ignore[no-untyped-def]
    inbox, settings = smtp
    a1, _ = make_user("member", company="A社", email="a1@example.test")
    # A second user of the same member company, and a user of another member.
    from coordinator.accounts import service
    from shared.enums import Role
    from shared.models import User

    a2 = User(
        email="a2@example.test",
        password_hash=service.hash_password("password-123"),
        role=Role.MEMBER.value,
        member_id=a1.member_id,
        name="A 二郎",
    )
    db.add(a2)
    make_user("member", company="B社", email="b1@example.test")
    db.flush()
    row = notify.notify(
        db,
        kind="list_addition_request",
        member_id=a1.member_id,
        reservation_id=None,
        title="リスト追加のお願い（予約ID 12）",
        body="収集中リストが残り送信数の1.5倍を下回りました。151件以上の追加をお願いします。",
    )
    # Everything pending, including mail left over from other tests' rows, goes out.
    sent = notify.deliver_pending_mail(db, settings)
    assert sent >= 1
    mine = [
        (to, m)
        for to, m in inbox.messages
        if m["Subject"] == "[Mikomi] リスト追加のお願い（予約ID 12）"
    ]
    # One message per user: co-workers' addresses are not shown to each other.
    assert sorted(to[0] for to, _ in mine) == ["a1@example.test", "a2@example.test"]
    assert all(len(to) == 1 and m["To"] == to[0] for to, m in mine)
    to, msg = mine[0]
    assert msg["From"] == "noreply@mikomi.test"
    text = msg.get_content()
    assert "151件以上の追加をお願いします" in text and "http://127.0.0.1:8000/notifications" in text
    db.refresh(row)
    assert row.emailed_at is not None
    # A second run sends nothing again.
    before = len(inbox.messages)
    assert notify.deliver_pending_mail(db, settings) == 0
    assert len(inbox.messages) == before


def test_operator_notifications_go_to_every_operator(db: Session, smtp, make_user) -> None:  # type: ignore[no-untyped-def]
    inbox, settings = smtp
    make_user("operator", email="op1@example.test")
    make_user("operator", email="op2@example.test")
    make_user("member", email="m1@example.test")
    notify.notify(db, kind="order_placed", for_operators=True, title="銀行振込の申込がありました")
    notify.deliver_pending_mail(db, settings)
    got = {
        to[0] for to, m in inbox.messages if m["Subject"] == "[Mikomi] 銀行振込の申込がありました"
    }
    assert {"op1@example.test", "op2@example.test"} <= got
    assert "m1@example.test" not in got


def test_an_smtp_outage_leaves_mail_pending_for_the_next_run(db: Session, make_user) -> None:  # type: ignore[no-untyped-def]
    me, _ = make_user("member")
    row = notify.notify(db, kind="completed", member_id=me.member_id, title="送信が完了しました")
    down = Settings(smtp_host="127.0.0.1", smtp_port=free_port())  # nothing listens there
    assert notify.deliver_pending_mail(db, down) == 0
    db.refresh(row)
    assert row.emailed_at is None
    # Without an SMTP server configured nothing is attempted at all.
    assert notify.deliver_pending_mail(db, Settings(smtp_host="")) == 0


def test_a_notification_needs_an_audience(db: Session) -> None:
    with pytest.raises(ValueError):
        notify.notify(db, kind="completed", title="誰にも届かない")


def _note(
    db: Session, member_id: int | None, title: str, for_operators: bool = False
) -> Notification:
    row = notify.notify(
        db, kind="completed", member_id=member_id, for_operators=for_operators, title=title
    )
    db.commit()
    return row


def test_in_app_list_and_read(db: Session, client, make_user) -> None:  # type: ignore[no-untyped-def]
    me, h = make_user("member")
    first = _note(db, me.member_id, "一件目")
    second = _note(db, me.member_id, "二件目")
    listing = client.get("/api/v1/notifications", headers=h).json()
    assert [n["title"] for n in listing["notifications"]] == ["二件目", "一件目"]  # newest first
    assert listing["unread"] == 2
    resp = client.post(f"/api/v1/notifications/{first.id}/read", headers=h)
    assert resp.status_code == 200 and resp.json()["read_at"] is not None
    # Reading twice keeps the first time.
    again = client.post(f"/api/v1/notifications/{first.id}/read", headers=h).json()
    assert again["read_at"] == resp.json()["read_at"]
    unread = client.get("/api/v1/notifications?unread=true", headers=h).json()
    assert [n["id"] for n in unread["notifications"]] == [second.id] and unread["unread"] == 1
    page = client.get(f"/api/v1/notifications?limit=1&before_id={second.id}", headers=h).json()
    assert [n["id"] for n in page["notifications"]] == [first.id]
    assert client.post("/api/v1/notifications/read-all", headers=h).json() == {"marked": 1}
    assert client.get("/api/v1/notifications", headers=h).json()["unread"] == 0
    assert client.get("/api/v1/notifications?limit=0", headers=h).status_code == 422
    assert client.get("/api/v1/notifications?limit=abc", headers=h).status_code == 422


def test_notifications_are_private(db: Session, client, make_user) -> None:  # type: ignore[no-untyped-def]
    a, ha = make_user("member", company="A社")
    b, hb = make_user("member", company="B社")
    _, op = make_user("operator")
    mine = _note(db, a.member_id, "A社へのお知らせ")
    ops = _note(db, None, "運営へのお知らせ", for_operators=True)
    assert client.get("/api/v1/notifications").status_code == 401
    assert client.post(f"/api/v1/notifications/{mine.id}/read").status_code == 401
    b_titles = [
        n["title"] for n in client.get("/api/v1/notifications", headers=hb).json()["notifications"]
    ]
    assert "A社へのお知らせ" not in b_titles and "運営へのお知らせ" not in b_titles
    assert client.post(f"/api/v1/notifications/{mine.id}/read", headers=hb).status_code == 404
    assert client.post(f"/api/v1/notifications/{ops.id}/read", headers=hb).status_code == 404
    # B asking for A's through the operator filter gets only its own.
    assert "A社へのお知らせ" not in [
        n["title"]
        for n in client.get(f"/api/v1/notifications?member_id={a.member_id}", headers=hb).json()[
            "notifications"
        ]
    ]
    a_titles = [
        n["title"] for n in client.get("/api/v1/notifications", headers=ha).json()["notifications"]
    ]
    assert a_titles == ["A社へのお知らせ"]
    # Operators see theirs, and a member's on request.
    op_titles = [
        n["title"] for n in client.get("/api/v1/notifications", headers=op).json()["notifications"]
    ]
    assert "運営へのお知らせ" in op_titles and "A社へのお知らせ" not in op_titles
    assert [
        n["title"]
        for n in client.get(f"/api/v1/notifications?member_id={a.member_id}", headers=op).json()[
            "notifications"
        ]
    ] == ["A社へのお知らせ"]
    assert client.post(f"/api/v1/notifications/{mine.id}/read", headers=op).status_code == 200
    assert b.member_id != a.member_id


def test_a_request_that_notifies_mails_right_after_its_commit(
    db: Session, client, make_user, smtp, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from shared.config import get_settings

    inbox, settings = smtp
    make_user("operator", email="desk@example.test")
    _, h = make_user("member")
    monkeypatch.setenv("MIKOMI_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("MIKOMI_SMTP_PORT", str(settings.smtp_port))
    get_settings.cache_clear()
    try:
        resp = client.post(
            "/api/v1/orders",
            headers=h,
            json={
                "quantity": 1000,
                "company_name": "振込株式会社",
                "contact_name": "振込 花子",
                "payment_method": "bank_transfer",
            },
        )
        assert resp.status_code == 201
    finally:
        get_settings.cache_clear()
    subjects = [m["Subject"] for to, m in inbox.messages if "desk@example.test" in to]
    assert any(
        "銀行振込の申込がありました" in s and f"No.{resp.json()['id']}" in s for s in subjects
    )
    row = (
        db.query(Notification)
        .filter(Notification.kind == "order_placed")
        .order_by(Notification.id.desc())
        .first()
    )
    assert row is not None and row.emailed_at is not None


def test_delivery_is_scheduled_once_per_commit_and_again_after_a_rollback(
    db: Session, make_user
) -> None:  # type: ignore[no-untyped-def]
    from shared.db import AFTER_COMMIT_KEY, rollback

    me, _ = make_user("member")
    db.info.pop(AFTER_COMMIT_KEY, None)
    notify.notify(db, kind="completed", member_id=me.member_id, title="一件目")
    notify.notify(db, kind="completed", member_id=me.member_id, title="二件目")
    assert len(db.info[AFTER_COMMIT_KEY]) == 1
    rollback(db)  # what the transaction owner does on an error
    assert AFTER_COMMIT_KEY not in db.info
    notify.notify(db, kind="completed", member_id=me.member_id, title="三件目")
    assert len(db.info[AFTER_COMMIT_KEY]) == 1
    rollback(db)
