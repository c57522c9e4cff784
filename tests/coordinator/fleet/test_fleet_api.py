"""The operators' fleet endpoints over the API: fleet view, in-doubt list and resolution."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from shared import clock, items, ledger
from shared.models import FleetWorker
from tests.builders import assert_counters_add_up, make_reservation


def _in_doubt_item(db: Session, reservation_id: int) -> int:
    [(item_id, token)] = items.claim(db, reservation_id, 1)
    items.start(db, item_id, token, "host-1")
    items.enter_submitting(db, item_id, token)
    clock.advance(timedelta(hours=1))
    items.reap(db)
    return item_id


def test_operator_lists_and_resolves_in_doubt(db: Session, client, make_user) -> None:  # type: ignore[no-untyped-def]
    reservation = make_reservation(db, items=3)
    item_id = _in_doubt_item(db, reservation.id)
    _, operator = make_user("operator")
    listed = client.get("/api/v1/fleet/in-doubt", headers=operator).json()
    assert item_id in [i["id"] for i in listed["items"]]
    consumed = ledger.balance(db, reservation.member_id).consumed
    response = client.post(
        f"/api/v1/items/{item_id}/resolve",
        headers=operator,
        json={"status": "sent", "note": "完了画面のスクリーンショットあり"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "sent"
    assert ledger.balance(db, reservation.member_id).consumed == consumed + 1
    assert_counters_add_up(db, reservation.id)
    again = client.post(
        f"/api/v1/items/{item_id}/resolve", headers=operator, json={"status": "failed", "note": ""}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "item_not_in_doubt"


def test_resolve_failed_with_a_bad_reason_is_refused(db: Session, client, make_user) -> None:  # type: ignore[no-untyped-def]
    reservation = make_reservation(db, items=1)
    item_id = _in_doubt_item(db, reservation.id)
    _, operator = make_user("operator")
    db.commit()
    response = client.post(
        f"/api/v1/items/{item_id}/resolve",
        headers=operator,
        json={"status": "failed", "reason": "captcha"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_resolution"


def test_members_cannot_use_operator_endpoints(db: Session, client, make_user) -> None:  # type: ignore[no-untyped-def]
    reservation = make_reservation(db, items=1)
    item_id = _in_doubt_item(db, reservation.id)
    _, member = make_user("member")
    db.commit()  # an error response rolls back to here; keep the user
    assert client.get("/api/v1/fleet", headers=member).status_code == 403
    assert client.get("/api/v1/fleet/in-doubt", headers=member).status_code == 403
    response = client.post(
        f"/api/v1/items/{item_id}/resolve", headers=member, json={"status": "sent"}
    )
    assert response.status_code == 403


def test_fleet_view_shows_workers_rates_and_outcomes(db: Session, client, make_user) -> None:  # type: ignore[no-untyped-def]
    reservation = make_reservation(db, items=4, senders=4)
    claimed = items.claim(db, reservation.id, 4)
    for (item_id, token), outcome in zip(
        claimed[:3],
        [
            items.Outcome("sent"),
            items.Outcome("failed", "no_form"),
            items.Outcome("skipped", "captcha"),
        ],
        strict=True,
    ):
        items.start(db, item_id, token, "host-1")
        if outcome.status == "sent":
            items.enter_submitting(db, item_id, token)
        items.record_outcome(db, item_id, token, outcome)
    running_id, running_token = claimed[3]
    items.start(db, running_id, running_token, "host-2")
    now = clock.now()
    db.add(
        FleetWorker(
            id="host-2",
            hostname="host",
            pid=42,
            started_at=now,
            heartbeat_at=now,
            current_item_id=running_id,
            state="running",
            sends=7,
        )
    )
    db.add(
        FleetWorker(
            id="gone",
            hostname="host",
            pid=43,
            started_at=now - timedelta(hours=1),
            heartbeat_at=now - timedelta(minutes=10),
        )
    )
    db.flush()
    _, operator = make_user("operator")
    view = client.get("/api/v1/fleet?minutes=5", headers=operator).json()
    assert [w["id"] for w in view["workers"]] == ["host-2"]
    assert view["workers"][0]["current_reservation_id"] == reservation.id
    assert view["outcomes"]["sent"] == {"": 1}
    assert view["outcomes"]["failed"] == {"no_form": 1}
    assert view["outcomes"]["skipped"] == {"captcha": 1}
    assert view["sends_per_minute"] == 0.2
    mine = next(r for r in view["reservations"] if r["reservation_id"] == reservation.id)
    assert (mine["in_flight"], mine["sent"]) == (1, 1)


def test_event_stream_is_only_for_the_owner_or_operators(db: Session, client, make_user) -> None:  # type: ignore[no-untyped-def]
    reservation = make_reservation(db, items=1)
    _, stranger = make_user("member", company="他社")
    db.commit()
    response = client.get(f"/api/v1/reservations/{reservation.id}/events", headers=stranger)
    assert response.status_code == 404
    assert client.get(f"/api/v1/reservations/{reservation.id}/events").status_code == 401


def test_a_user_may_hold_only_a_few_live_streams(db: Session, app, client, make_user) -> None:  # type: ignore[no-untyped-def]
    from contextlib import nullcontext

    from coordinator.fleet.router import MAX_STREAMS_PER_USER, STREAM_SLOTS, stream_sessions

    app.dependency_overrides[stream_sessions] = lambda: lambda: nullcontext(db)

    reservation = make_reservation(db, items=1)
    op_user, operator = make_user("operator")
    db.commit()
    url = f"/api/v1/reservations/{reservation.id}/events?max_seconds=0.3"
    # This user already holds the most streams allowed (tabs left open elsewhere).
    for _ in range(MAX_STREAMS_PER_USER):
        STREAM_SLOTS.take(op_user.id)
    try:
        refused = client.get(url, headers=operator)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_streams"
    finally:
        for _ in range(MAX_STREAMS_PER_USER):
            STREAM_SLOTS.give_back(op_user.id)
    # With a slot free the stream opens, and gives its slot back when it ends.
    served = client.get(url, headers=operator)
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("text/event-stream")
    assert STREAM_SLOTS.open_for(op_user.id) == 0


def test_operators_control_hosts_and_stop_everything(db: Session, client, make_user) -> None:  # type: ignore[no-untyped-def]
    from shared import fleet_control
    from shared.enums import ReservationStatus
    from shared.models import Reservation, ReservationStatusChange

    host = f"host-{id(db)}"
    _, operator = make_user("operator")
    _, member = make_user("member", company="他社")
    try:
        assert client.post(f"/api/v1/fleet/hosts/{host}/drain", headers=member).status_code == 403
        assert client.post(f"/api/v1/fleet/hosts/{host}/drain").status_code == 401
        assert fleet_control.host_state(host) == "run"
        for action, state in (("drain", "drain"), ("stop", "stop"), ("resume", "run")):
            resp = client.post(f"/api/v1/fleet/hosts/{host}/{action}", headers=operator)
            assert resp.status_code == 204
            assert fleet_control.host_state(host) == state
        assert (
            client.post(f"/api/v1/fleet/hosts/{host}/explode", headers=operator).status_code == 422
        )
    finally:
        fleet_control.set_host(host, "run")
    running = [make_reservation(db, items=1) for _ in range(2)]
    pending = make_reservation(db, items=1, status="pending")
    db.commit()
    assert client.post("/api/v1/fleet/stop-all", headers=member).status_code == 403
    resp = client.post("/api/v1/fleet/stop-all", headers=operator)
    assert resp.status_code == 200 and resp.json()["paused"] >= 2
    for r in running:
        db.refresh(r)
        assert r.status == ReservationStatus.PAUSED
        change = (
            db.query(ReservationStatusChange)
            .filter_by(reservation_id=r.id, to_status="paused")
            .one()
        )
        assert change.actor_user_id is not None  # an operator's pause, with who
    assert db.get(Reservation, pending.id).status == "pending"
