"""The lifecycle rules on their boundaries, with the moved clock, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from coordinator.reservations import service
from shared import clock, items, ledger, lifecycle
from shared.enums import ItemState, NotificationKind, ReservationStatus
from shared.models import Notification, Reservation, ReservationStatusChange
from shared.rules import list_addition_suggestion
from tests.builders import (
    MemberEnv,
    assert_counters_add_up,
    force_outcomes,
    list_url,
    make_prospects,
    principal_of,
    raw_balance,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _notices(db, reservation_id: int, kind: str) -> list[Notification]:  # type: ignore[no-untyped-def]
    return list(
        db.scalars(
            select(Notification)
            .where(Notification.reservation_id == reservation_id, Notification.kind == kind)
            .order_by(Notification.id)
        )
    )


@pytest.fixture
def operator(db, make_user):  # type: ignore[no-untyped-def]
    user, _ = make_user("operator", company=None)
    return principal_of(user)


def test_list_addition_suggestion_is_the_spec_example() -> None:
    assert list_addition_suggestion(1_000, 700, 449) == 151
    assert list_addition_suggestion(1_000, 700, 450) is None
    assert list_addition_suggestion(1_000, 1_000, 0) is None


def test_pause_auto_cancel_after_more_than_12_hours(db, make_user, operator) -> None:  # type: ignore[no-untyped-def]
    clock.set_clock(T0)
    env = MemberEnv(db, make_user, tickets=1_000, prospects=600)
    r = env.reserve(db, approved_by=operator)
    service.pause(db, env.principal, r.id)
    assert r.paused_at == T0
    assert lifecycle.auto_cancel_stale_pauses(db, T0 + timedelta(hours=12)) == 0
    assert r.status == ReservationStatus.PAUSED
    assert lifecycle.auto_cancel_stale_pauses(db, T0 + timedelta(hours=12, seconds=1)) == 1
    db.refresh(r)
    assert r.status == ReservationStatus.AUTO_CANCELLED
    assert r.queued == 0
    assert_counters_add_up(db, r)
    assert ledger.reservation_hold_outstanding(db, r.id) == 0
    assert ledger.balance(db, env.member_id).available == 1_000
    last = db.scalars(
        select(ReservationStatusChange)
        .where(ReservationStatusChange.reservation_id == r.id)
        .order_by(ReservationStatusChange.id.desc())
    ).first()
    assert last is not None and last.actor_user_id is None and "12時間" in last.reason
    notices = _notices(db, r.id, NotificationKind.AUTO_CANCELLED.value)
    assert {(n.member_id, n.for_operators) for n in notices} == {
        (env.member_id, False),
        (None, True),
    }


def test_resume_resets_the_pause_clock(db, make_user, operator) -> None:  # type: ignore[no-untyped-def]
    clock.set_clock(T0)
    env = MemberEnv(db, make_user, tickets=1_000, prospects=600)
    r = env.reserve(db, approved_by=operator)
    service.pause(db, env.principal, r.id)
    clock.advance(timedelta(hours=11))
    service.resume(db, env.principal, r.id)
    service.pause(db, env.principal, r.id)
    assert lifecycle.auto_cancel_stale_pauses(db, T0 + timedelta(hours=13)) == 0
    assert r.status == ReservationStatus.PAUSED


def test_queue_empty_auto_cancel_only_while_approved(db, make_user, operator) -> None:  # type: ignore[no-untyped-def]
    env = MemberEnv(db, make_user, tickets=1_000, prospects=600)
    r = env.reserve(db, approved_by=operator)
    force_outcomes(db, r.id, 599, ItemState.FAILED.value)
    assert r.status == ReservationStatus.APPROVED and r.queued == 1
    force_outcomes(db, r.id, 1, ItemState.SKIPPED.value)
    assert r.status == ReservationStatus.AUTO_CANCELLED
    assert ledger.balance(db, env.member_id).available == 1_000
    # A paused reservation whose list was removed stays paused (a list change in progress).
    r2 = env.reserve(db, fresh_list=600, approved_by=operator)
    _, removed = service.pause(db, env.principal, r2.id, remove_list=True)
    assert removed == 600
    assert r2.status == ReservationStatus.PAUSED and r2.queued == 0
    assert_counters_add_up(db, r2)


def test_list_addition_notice_once_per_crossing(db, make_user, operator) -> None:  # type: ignore[no-untyped-def]
    env = MemberEnv(db, make_user, tickets=1_000, prospects=2_000)
    r = env.reserve(db, 1_000, approved_by=operator)
    kind = NotificationKind.LIST_ADDITION_REQUEST.value
    force_outcomes(db, r.id, 700, ItemState.SENT.value)
    force_outcomes(db, r.id, 850, ItemState.FAILED.value)
    assert (r.sent, r.queued) == (700, 450)
    assert _notices(db, r.id, kind) == []
    force_outcomes(db, r.id, 1, ItemState.FAILED.value)
    notices = _notices(db, r.id, kind)
    assert len(notices) == 1
    assert notices[0].data is not None and notices[0].data["suggested"] == 151
    assert "151" in notices[0].title and notices[0].member_id == env.member_id
    force_outcomes(db, r.id, 10, ItemState.FAILED.value)
    assert len(_notices(db, r.id, kind)) == 1  # still below: no second notice
    # Back above 1.5 × remaining re-arms it; the next crossing notifies again.
    industry = make_prospects(db, 100)
    service.transfer(
        db, env.principal, r.id, list_url=list_url(industry), count=100, script_id=env.script.id
    )
    assert r.queued == 539 and not r.list_notice_active
    force_outcomes(db, r.id, 90, ItemState.FAILED.value)
    notices = _notices(db, r.id, kind)
    assert len(notices) == 2 and notices[1].data["suggested"] == 2 * 300 - 449
    assert_counters_add_up(db, r)


def test_completion_releases_the_rest(db, make_user, operator) -> None:  # type: ignore[no-untyped-def]
    env = MemberEnv(db, make_user, tickets=1_000, prospects=600)
    r = env.reserve(db, approved_by=operator)
    force_outcomes(db, r.id, 10, ItemState.FAILED.value)
    force_outcomes(db, r.id, 299, ItemState.SENT.value)
    assert r.status == ReservationStatus.APPROVED
    addition = service.request_addition(db, env.principal, r.id, 100)
    force_outcomes(db, r.id, 1, ItemState.SENT.value)
    assert r.status == ReservationStatus.COMPLETED and r.finished_at is not None
    assert r.queued == 0
    assert_counters_add_up(db, r)
    bal = ledger.balance(db, env.member_id)
    assert (bal.consumed, bal.held, bal.available) == (300, 0, 700)
    assert raw_balance(db, env.member_id)["available"] == 700
    assert len(_notices(db, r.id, NotificationKind.COMPLETED.value)) == 1
    # The undecided addition is closed with the reservation, and nothing was held for it.
    db.refresh(addition)
    assert addition.status == "rejected"


def test_cancel_keeps_tickets_for_items_in_flight(db, make_user, operator) -> None:  # type: ignore[no-untyped-def]
    env = MemberEnv(db, make_user, tickets=1_000, prospects=600)
    r = env.reserve(db, approved_by=operator)
    service.set_senders(db, operator, r.id, 3)
    claimed = items.claim(db, r.id, 3)
    assert len(claimed) == 3
    for item_id, token in claimed:
        assert items.start(db, item_id, token, "test-worker") is not None
        assert items.enter_submitting(db, item_id, token)
    r = db.get(Reservation, r.id, populate_existing=True)
    assert r is not None and r.in_flight == 3
    service.cancel(db, env.principal, r.id)
    assert r.status == ReservationStatus.CANCELLED and r.queued == 0
    assert ledger.reservation_hold_outstanding(db, r.id) == 3
    assert ledger.balance(db, env.member_id).available == 997
    (a, ta), (b, tb), (c, tc) = claimed
    items.record_outcome(db, a, ta, items.Outcome(status="sent"))
    items.record_outcome(db, b, tb, items.Outcome(status="failed", reason="validation_error"))
    items.record_outcome(db, c, tc, items.Outcome(status="in_doubt", reason="unconfirmed"))
    # The sent one consumed its ticket; the failed one's came back; the in-doubt one keeps its
    # ticket until an operator decides.
    bal = ledger.balance(db, env.member_id)
    assert (bal.consumed, bal.held, bal.available) == (1, 1, 998)
    items.resolve_in_doubt(db, c, "failed", resolved_by=operator.user_id)
    bal = ledger.balance(db, env.member_id)
    assert (bal.consumed, bal.held, bal.available) == (1, 0, 999)
    assert_counters_add_up(db, r)
    assert raw_balance(db, env.member_id)["available"] == 999
