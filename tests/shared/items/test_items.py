"""Items on both engines: claim, capacity, leases, the reaper, tokens and the duplicate guard."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared import clock, items, ledger
from shared.config import get_settings
from shared.enums import ItemState, ReservationStatus
from shared.models import MemberContact, Reservation, SendAttempt, SendItem
from shared.suppression import suppress
from tests.builders import assert_counters_add_up, make_member, make_reservation


def _item(db: Session, item_id: int) -> SendItem:
    return db.execute(
        select(SendItem).where(SendItem.id == item_id).execution_options(populate_existing=True)
    ).scalar_one()


def _run_to_submitting(db: Session, reservation: Reservation, n: int = 1) -> list[tuple[int, str]]:
    claimed = items.claim(db, reservation.id, n)
    for item_id, token in claimed:
        assert items.start(db, item_id, token, "w1") is not None
        assert items.enter_submitting(db, item_id, token) is True
    return claimed


def test_claim_dispatches_up_to_senders_with_fresh_tokens(db: Session) -> None:
    reservation = make_reservation(db, items=10, senders=3)
    claimed = items.claim(db, reservation.id, 10)
    assert len(claimed) == 3  # capacity: senders − in_flight
    assert len({token for _, token in claimed}) == 3
    for item_id, token in claimed:
        item = _item(db, item_id)
        assert item.state == ItemState.DISPATCHED
        assert item.attempt_token == token
        assert item.lease_expires_at is not None and item.lease_expires_at > clock.now()
    assert items.claim(db, reservation.id, 10) == []  # full until something finishes
    assert_counters_add_up(db, reservation.id)
    db.refresh(reservation)
    assert (reservation.queued, reservation.in_flight) == (7, 3)


def test_capacity_never_lets_sent_pass_count(db: Session) -> None:
    reservation = make_reservation(db, items=400, count=300, senders=4)
    reservation.sent, reservation.queued = 298, 102  # as if 298 were sent already
    reservation.in_doubt = 1
    db.flush()
    assert items.capacity(reservation) == 1  # 300 − 298 − 0 − 1
    reservation.status = ReservationStatus.PAUSED.value
    assert items.capacity(reservation) == 0


def test_one_item_per_domain_in_flight_across_reservations(db: Session) -> None:
    url = ("同じ会社", "http://same-domain.example.test/")
    first = make_reservation(db, urls=[url])
    second = make_reservation(db, urls=[url, ("別の会社", "http://other.example.test/")])
    assert len(items.claim(db, first.id, 1)) == 1
    claimed = items.claim(db, second.id, 2)
    assert [_item(db, i).domain for i, _ in claimed] == ["other.example.test"]
    # and the database refuses a second in-flight item of a domain, whatever a caller does
    queued = db.scalar(
        select(SendItem).where(SendItem.reservation_id == second.id, SendItem.state == "queued")
    )
    assert queued is not None
    with pytest.raises(IntegrityError), db.begin_nested():
        queued.state = ItemState.DISPATCHED.value
        db.flush()


def test_paused_reservation_claims_nothing(db: Session) -> None:
    reservation = make_reservation(db, items=5, status=ReservationStatus.PAUSED.value)
    assert items.claim(db, reservation.id, 5) == []


def test_claim_skips_suppressed_and_already_contacted_domains(db: Session) -> None:
    member = make_member(db)
    reservation = make_reservation(db, member=member, items=4, senders=4)
    queued = db.scalars(
        select(SendItem).where(SendItem.reservation_id == reservation.id).order_by(SendItem.id)
    ).all()
    suppress(db, queued[0].domain, reason="optout")
    db.add(MemberContact(member_id=member.id, domain=queued[1].domain))
    db.flush()
    claimed = items.claim(db, reservation.id, 4)
    assert {i for i, _ in claimed} == {queued[2].id, queued[3].id}
    assert (_item(db, queued[0].id).state, _item(db, queued[0].id).reason) == (
        "skipped",
        "suppressed",
    )
    assert (_item(db, queued[1].id).state, _item(db, queued[1].id).reason) == (
        "skipped",
        "duplicate",
    )
    assert_counters_add_up(db, reservation.id)


def test_token_mismatch_and_duplicate_delivery_do_nothing(db: Session) -> None:
    reservation = make_reservation(db, items=2)
    (item_id, token), _ = items.claim(db, reservation.id, 2)
    assert items.start(db, item_id, "not-the-token", "w1") is None
    assert _item(db, item_id).state == ItemState.DISPATCHED
    assert items.start(db, item_id, token, "w1") is not None
    assert items.start(db, item_id, token, "w2") is None  # RQ delivered the job twice
    assert _item(db, item_id).worker_id == "w1"
    assert items.record_outcome(db, item_id, "stale", items.Outcome("sent")) is None
    assert _item(db, item_id).state == ItemState.RUNNING
    assert items.enter_submitting(db, item_id, "stale") is False
    assert _item(db, item_id).state == ItemState.RUNNING
    assert_counters_add_up(db, reservation.id)


def test_sent_consumes_one_ticket_and_records_the_contact(db: Session) -> None:
    reservation = make_reservation(db, items=3, count=300)
    before = ledger.balance(db, reservation.member_id)
    [(item_id, token)] = _run_to_submitting(db, reservation)
    assert db.scalar(select(MemberContact).where(MemberContact.item_id == item_id)) is not None
    assert _item(db, item_id).state == ItemState.SUBMITTING
    outcome = items.Outcome("sent", None, final_url="http://x/thanks", elapsed_ms=1234)
    assert items.record_outcome(db, item_id, token, outcome) is not None
    item = _item(db, item_id)
    assert (item.state, item.reason, item.attempt_token) == ("sent", None, None)
    assert item.evidence and item.evidence["final_url"] == "http://x/thanks"
    after = ledger.balance(db, reservation.member_id)
    assert after.consumed == before.consumed + 1
    assert after.available == before.available  # the ticket came out of the hold
    assert ledger.reservation_hold_outstanding(db, reservation.id) == 299
    attempt = db.scalar(select(SendAttempt).where(SendAttempt.item_id == item_id))
    assert attempt is not None and (attempt.status, attempt.elapsed_ms) == ("sent", 1234)
    assert_counters_add_up(db, reservation.id)


@pytest.mark.parametrize("status,reason", [("failed", "no_form"), ("skipped", "captcha")])
def test_failed_and_skipped_consume_nothing(db: Session, status: str, reason: str) -> None:
    reservation = make_reservation(db, items=1)
    before = ledger.balance(db, reservation.member_id)
    [(item_id, token)] = items.claim(db, reservation.id, 1)
    items.start(db, item_id, token, "w1")
    items.record_outcome(db, item_id, token, items.Outcome(status, reason))
    assert (_item(db, item_id).state, _item(db, item_id).reason) == (status, reason)
    assert ledger.balance(db, reservation.member_id).consumed == before.consumed
    assert_counters_add_up(db, reservation.id)


def test_refusal_puts_the_domain_on_the_global_list(db: Session) -> None:
    from shared.suppression import is_suppressed

    reservation = make_reservation(db, items=1)
    [(item_id, token)] = items.claim(db, reservation.id, 1)
    items.start(db, item_id, token, "w1")
    items.record_outcome(db, item_id, token, items.Outcome("skipped", "refused_sales"))
    assert is_suppressed(db, _item(db, item_id).domain, None)


def test_duplicate_guard_refuses_a_second_submit_to_a_contacted_domain(db: Session) -> None:
    member = make_member(db, tickets=2000)
    url = ("同じ会社", "http://twice.example.test/")
    first = make_reservation(db, member=member, urls=[url])
    second = make_reservation(db, member=member, urls=[url])
    [(a, token_a)] = items.claim(db, first.id, 1)
    [(b, token_b)] = items.claim(db, second.id, 1) or [(None, None)]
    assert b is None  # the same domain is in flight
    items.start(db, a, token_a, "w1")
    items.enter_submitting(db, a, token_a)
    items.record_outcome(db, a, token_a, items.Outcome("sent"))
    # the second reservation's item was queued before the first send: dispatch now skips it
    assert items.claim(db, second.id, 1) == []
    item = db.scalar(select(SendItem).where(SendItem.reservation_id == second.id))
    assert item is not None and (item.state, item.reason) == ("skipped", "duplicate")


def test_duplicate_guard_at_submit_time(db: Session) -> None:
    # The contact appears between dispatch and submit (another member's reservation can't, so
    # the same member's other reservation via a race): the unique row refuses the submit.
    reservation = make_reservation(db, items=1)
    [(item_id, token)] = items.claim(db, reservation.id, 1)
    items.start(db, item_id, token, "w1")
    db.add(MemberContact(member_id=reservation.member_id, domain=_item(db, item_id).domain))
    db.flush()
    assert items.enter_submitting(db, item_id, token) is False
    assert (_item(db, item_id).state, _item(db, item_id).reason) == ("skipped", "duplicate")
    assert_counters_add_up(db, reservation.id)


def test_suppression_is_checked_again_right_before_submit(db: Session) -> None:
    reservation = make_reservation(db, items=1)
    [(item_id, token)] = items.claim(db, reservation.id, 1)
    items.start(db, item_id, token, "w1")
    suppress(db, _item(db, item_id).domain, reason="ng", member_id=reservation.member_id)
    assert items.enter_submitting(db, item_id, token) is False
    assert (_item(db, item_id).state, _item(db, item_id).reason) == ("skipped", "suppressed")
    assert (
        db.scalar(
            select(func.count()).select_from(MemberContact).where(MemberContact.item_id == item_id)
        )
        == 0
    )


def test_pause_sends_a_running_item_back_to_the_queue_before_submit(db: Session) -> None:
    reservation = make_reservation(db, items=1)
    [(item_id, token)] = items.claim(db, reservation.id, 1)
    items.start(db, item_id, token, "w1")
    reservation.status = ReservationStatus.PAUSED.value
    db.flush()
    assert items.enter_submitting(db, item_id, token) is False
    item = _item(db, item_id)
    assert (item.state, item.attempt_token) == ("queued", None)
    assert_counters_add_up(db, reservation.id)


def test_an_item_out_while_the_list_is_removed_does_not_come_back(db: Session) -> None:
    """一時停止 → 「現在のリストを送信担当者から削除」 while an item is with a worker: when the
    worker sees the pause the item is cancelled with its list, not queued again."""
    from shared import lifecycle

    reservation = make_reservation(db, items=3)
    [(item_id, token)] = items.claim(db, reservation.id, 1)
    items.start(db, item_id, token, "w1")
    clock.advance(timedelta(seconds=1))
    lifecycle.change_status(
        db, reservation, ReservationStatus.PAUSED.value, actor_user_id=None, reason="test"
    )
    assert lifecycle.cancel_queued_items(db, reservation) == 2
    db.flush()
    assert items.enter_submitting(db, item_id, token) is False
    assert _item(db, item_id).state == ItemState.CANCELLED
    assert db.get(Reservation, reservation.id).queued == 0  # type: ignore[union-attr]
    assert_counters_add_up(db, reservation.id)


def test_a_plain_pause_keeps_the_returning_item_in_the_queue(db: Session) -> None:
    from shared import lifecycle

    reservation = make_reservation(db, items=3)
    [(item_id, token)] = items.claim(db, reservation.id, 1)
    items.start(db, item_id, token, "w1")
    lifecycle.change_status(
        db, reservation, ReservationStatus.PAUSED.value, actor_user_id=None, reason="test"
    )
    db.flush()
    assert items.enter_submitting(db, item_id, token) is False
    assert _item(db, item_id).state == ItemState.QUEUED
    assert_counters_add_up(db, reservation.id)


def test_start_of_a_paused_reservation_requeues_without_attempting(db: Session) -> None:
    reservation = make_reservation(db, items=1)
    [(item_id, token)] = items.claim(db, reservation.id, 1)
    reservation.status = ReservationStatus.PAUSED.value
    db.flush()
    assert items.start(db, item_id, token, "w1") is None
    assert _item(db, item_id).state == ItemState.QUEUED
    assert _item(db, item_id).attempts == 0


def test_retryable_failure_before_submit_is_retried_after_a_backoff(db: Session) -> None:
    reservation = make_reservation(db, items=1)
    [(item_id, token)] = items.claim(db, reservation.id, 1)
    items.start(db, item_id, token, "w1")
    items.record_outcome(db, item_id, token, items.Outcome("failed", "timeout"))
    item = _item(db, item_id)
    assert (item.state, item.reason) == ("queued", "timeout")
    assert item.retry_at is not None and item.retry_at > clock.now()
    assert items.claim(db, reservation.id, 1) == []  # still backing off
    clock.advance(items.retry_delay(1) + timedelta(seconds=1))
    [(again, token2)] = items.claim(db, reservation.id, 1)
    assert again == item_id and token2 != token
    assert_counters_add_up(db, reservation.id)


def test_retries_stop_after_max_attempts(db: Session) -> None:
    reservation = make_reservation(db, items=1)
    for attempt in range(1, items.MAX_ATTEMPTS + 1):
        clock.advance(timedelta(hours=1))
        [(item_id, token)] = items.claim(db, reservation.id, 1)
        items.start(db, item_id, token, "w1")
        items.record_outcome(db, item_id, token, items.Outcome("failed", "site_unreachable"))
        expected = "failed" if attempt == items.MAX_ATTEMPTS else "queued"
        assert _item(db, item_id).state == expected
    assert _item(db, item_id).attempts == items.MAX_ATTEMPTS


def test_a_failure_after_submitting_is_never_retried(db: Session) -> None:
    reservation = make_reservation(db, items=1)
    [(item_id, token)] = _run_to_submitting(db, reservation)
    items.record_outcome(db, item_id, token, items.Outcome("failed", "timeout"))
    assert _item(db, item_id).state == ItemState.FAILED
    with pytest.raises(ValueError):
        items.requeue_for_retry(db, reservation, _item(db, item_id), reason="timeout")


def test_reaper_requeues_expired_dispatched_and_running_and_doubts_submitting(db: Session) -> None:
    reservation = make_reservation(db, items=4, senders=4)
    claimed = items.claim(db, reservation.id, 4)
    (d_id, _), (r_id, r_token), (s_id, s_token), (live_id, live_token) = claimed
    items.start(db, r_id, r_token, "w1")
    items.start(db, s_id, s_token, "w1")
    items.enter_submitting(db, s_id, s_token)
    items.start(db, live_id, live_token, "w2")
    clock.advance(timedelta(seconds=get_settings().lease_seconds + 1))
    assert items.renew_lease(db, live_id, live_token)  # this one's worker is alive
    counts = items.reap(db)
    assert counts == {"requeued": 2, "in_doubt": 1, "cancelled": 0, "failed": 0}
    assert _item(db, d_id).state == ItemState.QUEUED
    assert _item(db, r_id).state == ItemState.QUEUED
    # the running one had its attempt: it waits out a backoff, with the reason shown
    assert _item(db, r_id).reason == "timeout" and _item(db, r_id).retry_at is not None
    assert _item(db, d_id).retry_at is None  # the dispatched one never started
    assert (_item(db, s_id).state, _item(db, s_id).reason) == ("in_doubt", "unconfirmed")
    assert _item(db, live_id).state == ItemState.RUNNING
    # the reaped attempt's late outcome is ignored: its token no longer holds the item
    assert items.record_outcome(db, s_id, s_token, items.Outcome("sent")) is None
    assert items.record_outcome(db, r_id, r_token, items.Outcome("sent")) is None
    assert_counters_add_up(db, reservation.id)
    # an in-doubt item is never dispatched again
    clock.advance(timedelta(hours=1))
    assert s_id not in {i for i, _ in items.claim(db, reservation.id, 4)}


def test_a_page_that_kills_every_worker_ends_failed_after_the_attempt_limit(db: Session) -> None:
    # Each time a worker takes the item its lease expires (the worker died or hung on it):
    # every expiry counts as an attempt, and the item ends instead of looping for ever.
    reservation = make_reservation(db, items=1)
    (item_id,) = (i.id for i in db.query(SendItem).filter_by(reservation_id=reservation.id))
    for attempt in range(1, items.MAX_ATTEMPTS + 1):
        clock.advance(timedelta(hours=1))  # past any backoff
        [(claimed_id, token)] = items.claim(db, reservation.id, 1)
        assert claimed_id == item_id
        items.start(db, item_id, token, f"w{attempt}")
        clock.advance(timedelta(seconds=get_settings().lease_seconds + 1))
        counts = items.reap(db)
        expected = "failed" if attempt == items.MAX_ATTEMPTS else "queued"
        assert _item(db, item_id).state == expected, attempt
        assert counts["failed" if expected == "failed" else "requeued"] == 1
    item = _item(db, item_id)
    assert (item.reason, item.attempts) == ("timeout", items.MAX_ATTEMPTS)
    clock.advance(timedelta(hours=1))
    assert items.claim(db, reservation.id, 1) == []
    assert_counters_add_up(db, reservation.id)


def test_redispatch_is_conditional_on_the_old_token(db: Session) -> None:
    reservation = make_reservation(db, items=1)
    [(item_id, token)] = items.claim(db, reservation.id, 1)
    new = items.redispatch(db, item_id, token)
    assert new is not None and new != token
    assert items.redispatch(db, item_id, token) is None
    assert items.start(db, item_id, token, "w1") is None
    assert items.start(db, item_id, new, "w1") is not None


@pytest.mark.parametrize("verdict", ["sent", "failed"])
def test_operator_resolves_in_doubt(db: Session, verdict: str) -> None:
    reservation = make_reservation(db, items=1)
    [(item_id, token)] = _run_to_submitting(db, reservation)
    clock.advance(timedelta(hours=1))
    items.reap(db)
    consumed_before = ledger.balance(db, reservation.member_id).consumed
    items.resolve_in_doubt(db, item_id, verdict, resolved_by=None, note="スクリーンショット確認")
    item = _item(db, item_id)
    assert item.state == verdict
    assert item.evidence and item.evidence["resolution"]["note"] == "スクリーンショット確認"
    consumed = ledger.balance(db, reservation.member_id).consumed - consumed_before
    assert consumed == (1 if verdict == "sent" else 0)
    assert_counters_add_up(db, reservation.id)
    with pytest.raises(ValueError):
        items.resolve_in_doubt(db, item_id, "sent", resolved_by=None)


def test_twenty_identical_script_failures_pause_the_reservation(db: Session) -> None:
    reservation = make_reservation(db, items=25, senders=1)
    for n in range(20):
        [(item_id, token)] = items.claim(db, reservation.id, 1)
        items.start(db, item_id, token, "w1")
        items.record_outcome(db, item_id, token, items.Outcome("failed", "validation_error"))
        db.refresh(reservation)
        expected = ReservationStatus.PAUSED if n == 19 else ReservationStatus.APPROVED
        assert reservation.status == expected


def test_site_reasons_never_pause(db: Session) -> None:
    reservation = make_reservation(db, items=22, senders=1)
    for _ in range(21):
        [(item_id, token)] = items.claim(db, reservation.id, 1)
        items.start(db, item_id, token, "w1")
        items.record_outcome(db, item_id, token, items.Outcome("failed", "no_form"))
    db.refresh(reservation)
    assert reservation.status == ReservationStatus.APPROVED
