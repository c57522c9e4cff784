"""A fleet problem must not cancel a member's reservation: the error threshold pauses as the
system (``paused_by = system``), the 12-hour rule leaves that pause alone, operators are
alerted at once (in-app and by e-mail, received by a real SMTP server) and the member sees
システム確認中."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared import clock, items, lifecycle, notify
from shared.enums import NotificationKind, PausedBy, ReservationStatus
from shared.models import Notification, Reservation
from shared.rules import ERROR_PAUSE_WINDOW
from tests.builders import MemberEnv, make_operator, principal_of

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _approved(db: Session, make_user, env: MemberEnv) -> Reservation:  # type: ignore[no-untyped-def]
    op_user, _ = make_operator(db, make_user)
    return env.reserve(db, approved_by=principal_of(op_user))


def _fail_until_paused(db: Session, r: Reservation, reason: str = "site_unreachable") -> None:
    for _ in range(ERROR_PAUSE_WINDOW):
        [(item_id, token)] = items.claim(db, r.id, 1)
        items.start(db, item_id, token, "w1")
        items.record_outcome(db, item_id, token, items.Outcome("failed", reason))
    db.refresh(r)


def test_the_error_threshold_pauses_as_the_system_and_never_auto_cancels(
    db: Session, make_user, client, smtp
) -> None:  # type: ignore[no-untyped-def]
    inbox, settings = smtp
    clock.set_clock(T0)
    env = MemberEnv(db, make_user, tickets=1_000, prospects=600)
    operator, op_headers = make_operator(db, make_user)
    r = _approved(db, make_user, env)
    _fail_until_paused(db, r)
    assert r.status == ReservationStatus.PAUSED and r.paused_by == PausedBy.SYSTEM
    # Far past 12 hours the system pause still stands.
    assert lifecycle.auto_cancel_stale_pauses(db, T0 + timedelta(hours=48)) == 0
    db.refresh(r)
    assert r.status == ReservationStatus.PAUSED
    # Operators were alerted (their own kind), the member told in the member's words.
    alert = db.scalars(
        select(Notification).where(
            Notification.reservation_id == r.id,
            Notification.kind == NotificationKind.SYSTEM_PAUSED.value,
        )
    ).one()
    assert alert.for_operators and alert.member_id is None
    assert "自動キャンセルされません" in alert.body
    member_notice = db.scalars(
        select(Notification).where(
            Notification.reservation_id == r.id,
            Notification.kind == NotificationKind.AUTO_PAUSED.value,
        )
    ).one()
    assert member_notice.member_id == env.member_id and "システム確認中" in member_notice.title
    # The alert reaches every operator's mailbox by the notify path.
    notify.deliver_pending_mail(db, settings)
    subjects = {(to[0], m["Subject"]) for to, m in inbox.messages}
    assert (operator.email, f"[Mikomi] {alert.title}") in subjects
    # The member reads システム確認中 and who paused; the operator's API says the same.
    data = client.get(f"/api/v1/reservations/{r.id}", headers=env.headers).json()
    assert data["status"] == "paused" and data["paused_by"] == "system"
    assert data["status_ja"] == "システム確認中"
    assert client.get(f"/api/v1/reservations/{r.id}", headers=op_headers).json()["paused_by"] == (
        "system"
    )
    # An operator (having checked the fleet) resumes it: paused_by is cleared.
    resp = client.post(f"/api/v1/reservations/{r.id}/resume", headers=op_headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["paused_by"] is None and resp.json()["status_ja"] == "承認済み"


def test_member_and_operator_pauses_are_named_and_still_auto_cancel(
    db: Session, make_user, client
) -> None:  # type: ignore[no-untyped-def]
    clock.set_clock(T0)
    env = MemberEnv(db, make_user, tickets=1_000, prospects=600)
    other = MemberEnv(db, make_user, tickets=1_000, prospects=600)
    _, op_headers = make_operator(db, make_user)
    mine = _approved(db, make_user, env)
    theirs = _approved(db, make_user, other)
    resp = client.post(f"/api/v1/reservations/{mine.id}/pause", headers=env.headers)
    assert resp.json()["reservation"]["paused_by"] == "member"
    assert resp.json()["reservation"]["status_ja"] == "一時停止"
    resp = client.post(f"/api/v1/reservations/{theirs.id}/pause", headers=op_headers)
    assert resp.json()["reservation"]["paused_by"] == "operator"
    assert lifecycle.auto_cancel_stale_pauses(db, T0 + timedelta(hours=12, seconds=1)) == 2
    for r in (mine, theirs):
        db.refresh(r)
        assert r.status == ReservationStatus.AUTO_CANCELLED and r.paused_by is None
