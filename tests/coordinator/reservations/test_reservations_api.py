"""Reservations over HTTP: every creation rule on its boundary, and the operator actions."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shared import ledger
from shared.enums import ItemState
from shared.models import Reservation, SendItem
from tests.builders import (
    MemberEnv,
    assert_counters_add_up,
    list_url,
    make_operator,
    make_prospects,
)


def _error(resp) -> dict:  # type: ignore[no-untyped-def]
    assert resp.status_code in (400, 409), resp.text
    return resp.json()["error"]


@pytest.fixture
def env(db, make_user) -> MemberEnv:  # type: ignore[no-untyped-def]
    return MemberEnv(db, make_user, tickets=2_000, prospects=1_000)


@pytest.mark.parametrize(
    ("count", "code"),
    [(299, "count_below_minimum"), (200, "count_below_minimum"), (350, "count_not_multiple")],
)
def test_count_rules_reject(client, env, count, code) -> None:  # type: ignore[no-untyped-def]
    error = _error(client.post("/api/v1/reservations", json=env.body(count), headers=env.headers))
    assert error["code"] == code
    assert error["field"] == "count"
    assert "件" in error["message"]


def test_count_300_is_accepted_and_301_is_not(client, env) -> None:  # type: ignore[no-untyped-def]
    assert (
        _error(client.post("/api/v1/reservations", json=env.body(301), headers=env.headers))["code"]
        == "count_not_multiple"
    )
    resp = client.post("/api/v1/reservations", json=env.body(300), headers=env.headers)
    assert resp.status_code == 201, resp.text
    data = resp.json()
    assert data["status"] == "pending" and data["status_ja"] == "申請中"
    assert data["count"] == 300 and data["sent"] == 0
    # Every prospect of the list is queued (1,000 ≤ 10 × 300).
    assert data["queued"] == 1_000
    assert data["history"][0]["to_status"] == "pending"
    assert data["history"][0]["actor_user_id"] == env.user.id


def test_creation_holds_the_tickets(client, db, env) -> None:  # type: ignore[no-untyped-def]
    resp = client.post("/api/v1/reservations", json=env.body(400), headers=env.headers)
    assert resp.status_code == 201
    bal = ledger.balance(db, env.member_id)
    assert (bal.held, bal.available) == (400, 1_600)
    assert ledger.reservation_hold_outstanding(db, resp.json()["id"]) == 400


def test_tickets_exactly_enough_vs_one_short(client, db, make_user) -> None:  # type: ignore[no-untyped-def]
    env = MemberEnv(db, make_user, tickets=1_000, prospects=2_000)
    # Hold 600 first: 400 remain.
    first = client.post("/api/v1/reservations", json=env.body(600), headers=env.headers)
    assert first.status_code == 201
    industry = make_prospects(db, 1_000)
    short = _error(
        client.post(
            "/api/v1/reservations",
            json=env.body(500, list_url=list_url(industry)),
            headers=env.headers,
        )
    )
    assert short["code"] == "count_exceeds_tickets" and short["field"] == "count"
    assert "400" in short["message"]
    ok = client.post(
        "/api/v1/reservations", json=env.body(400, list_url=list_url(industry)), headers=env.headers
    )
    assert ok.status_code == 201, ok.text
    assert ledger.balance(db, env.member_id).available == 0


@pytest.mark.parametrize(
    ("count", "senders", "ok"),
    [(2_000, 4, True), (2_000, 5, False), (300, 1, True), (300, 2, False)],
)
def test_senders_floor_count_over_500(client, db, make_user, count, senders, ok) -> None:  # type: ignore[no-untyped-def]
    env = MemberEnv(db, make_user, tickets=2_000, prospects=2 * count)
    resp = client.post("/api/v1/reservations", json=env.body(count, senders), headers=env.headers)
    if ok:
        assert resp.status_code == 201, resp.text
        assert resp.json()["senders"] == senders
    else:
        error = _error(resp)
        assert error["code"] == "senders_exceed_maximum" and error["field"] == "senders"


def test_senders_zero_rejected(client, env) -> None:  # type: ignore[no-untyped-def]
    error = _error(client.post("/api/v1/reservations", json=env.body(300, 0), headers=env.headers))
    assert error["code"] == "senders_below_minimum"


def test_list_of_exactly_twice_count_vs_one_less(client, db, make_user) -> None:  # type: ignore[no-untyped-def]
    env = MemberEnv(db, make_user, tickets=1_000, prospects=599)
    error = _error(client.post("/api/v1/reservations", json=env.body(300), headers=env.headers))
    assert error["code"] == "list_too_small" and error["field"] == "list_url"
    assert "599" in error["message"] and "600" in error["message"]
    make_prospects(db, 1, industry=env.industry)
    resp = client.post("/api/v1/reservations", json=env.body(300), headers=env.headers)
    assert resp.status_code == 201, resp.text
    assert resp.json()["queued"] == 600


def test_list_url_must_have_url_condition(client, env) -> None:  # type: ignore[no-untyped-def]
    body = env.body(300, list_url=list_url(env.industry, has_url=False))
    error = _error(client.post("/api/v1/reservations", json=body, headers=env.headers))
    assert error["code"] == "list_url_requires_has_url"
    assert "URL有り" in error["message"]


def test_garbage_list_url(client, env) -> None:  # type: ignore[no-untyped-def]
    body = env.body(300, list_url="ftp://nope")
    error = _error(client.post("/api/v1/reservations", json=body, headers=env.headers))
    assert error["code"] == "list_url_invalid" and error["field"] == "list_url"


def test_script_of_another_member_is_not_found(client, db, make_user, env) -> None:  # type: ignore[no-untyped-def]
    other = MemberEnv(db, make_user, tickets=0, prospects=0)
    body = env.body(300, script_id=other.script.id)
    error = _error(client.post("/api/v1/reservations", json=body, headers=env.headers))
    assert error["code"] == "script_not_found" and error["field"] == "script_id"


def test_failed_creation_writes_nothing(client, db, env) -> None:  # type: ignore[no-untyped-def]
    before = ledger.balance(db, env.member_id)
    _error(client.post("/api/v1/reservations", json=env.body(300, 2), headers=env.headers))
    assert ledger.balance(db, env.member_id) == before
    assert db.scalar(select(Reservation).where(Reservation.member_id == env.member_id)) is None


def test_queue_excludes_suppressed_and_already_queued(client, db, env) -> None:  # type: ignore[no-untyped-def]
    from shared.suppression import suppress

    first_domain = db.scalars(
        select(SendItem.domain).where(SendItem.member_id == env.member_id)
    ).first()
    assert first_domain is None
    from shared.models import Prospect

    domains = list(
        db.scalars(
            select(Prospect.domain).where(Prospect.industry == env.industry).order_by(Prospect.id)
        )
    )
    suppress(db, str(domains[0]), reason="optout")
    suppress(db, str(domains[1]), reason="ng", member_id=env.member_id)
    one = client.post("/api/v1/reservations", json=env.body(300), headers=env.headers)
    assert one.status_code == 201
    assert one.json()["queued"] == 998
    queued = set(
        db.scalars(select(SendItem.domain).where(SendItem.reservation_id == one.json()["id"]))
    )
    assert domains[0] not in queued and domains[1] not in queued
    # The same list again: everything is already queued by this member → nothing to send.
    again = client.post("/api/v1/reservations", json=env.body(300), headers=env.headers)
    assert _error(again)["code"] == "list_empty"


def _create(client, env, count=300, senders=1) -> dict:  # type: ignore[no-untyped-def]
    resp = client.post("/api/v1/reservations", json=env.body(count, senders), headers=env.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_operator_approves_and_sets_senders(client, db, make_user, env) -> None:  # type: ignore[no-untyped-def]
    _, op = make_operator(db, make_user)
    r = _create(client, env)
    assert (
        client.post(f"/api/v1/reservations/{r['id']}/approve", headers=env.headers).status_code
        == 403
    )
    resp = client.post(f"/api/v1/reservations/{r['id']}/approve", headers=op)
    assert resp.status_code == 200 and resp.json()["status"] == "approved"
    again = client.post(f"/api/v1/reservations/{r['id']}/approve", headers=op)
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_status"
    # Members cannot change senders; operators may go from 0 to the fleet maximum.
    assert (
        client.patch(
            f"/api/v1/reservations/{r['id']}", json={"senders": 1}, headers=env.headers
        ).status_code
        == 403
    )
    assert (
        client.patch(f"/api/v1/reservations/{r['id']}", json={"senders": 0}, headers=op).json()[
            "senders"
        ]
        == 0
    )
    assert (
        client.patch(f"/api/v1/reservations/{r['id']}", json={"senders": 16}, headers=op).json()[
            "senders"
        ]
        == 16
    )
    too_many = client.patch(f"/api/v1/reservations/{r['id']}", json={"senders": 17}, headers=op)
    assert (
        too_many.status_code == 400 and too_many.json()["error"]["code"] == "senders_out_of_range"
    )
    notes = client.get("/api/v1/reservations", headers=env.headers).json()
    assert notes["total"] == 1


def test_pause_remove_list_transfer_resume(client, db, make_user, env) -> None:  # type: ignore[no-untyped-def]
    _, op = make_operator(db, make_user)
    r = _create(client, env)
    client.post(f"/api/v1/reservations/{r['id']}/approve", headers=op)
    paused = client.post(
        f"/api/v1/reservations/{r['id']}/pause", json={"remove_list": True}, headers=env.headers
    )
    assert paused.status_code == 200, paused.text
    assert paused.json()["removed"] == 1_000
    assert paused.json()["reservation"]["status"] == "paused"
    assert paused.json()["reservation"]["queued"] == 0
    # An empty queue cannot be resumed (it would auto-cancel at once).
    empty = client.post(f"/api/v1/reservations/{r['id']}/resume", headers=env.headers)
    assert empty.status_code == 409 and empty.json()["error"]["code"] == "queue_empty"
    # 見込客リスト変更: a new search moved in with the same script.
    industry = make_prospects(db, 700)
    wrong_script = client.post(
        f"/api/v1/reservations/{r['id']}/transfers",
        json={"list_url": list_url(industry), "count": 500, "script_id": env.script.id + 10_000},
        headers=env.headers,
    )
    assert wrong_script.status_code == 400
    assert wrong_script.json()["error"]["code"] in ("script_mismatch", "script_not_found")
    moved = client.post(
        f"/api/v1/reservations/{r['id']}/transfers",
        json={"list_url": list_url(industry), "count": 500, "script_id": env.script.id},
        headers=env.headers,
    )
    assert moved.status_code == 201, moved.text
    assert moved.json()["transfer"]["added"] == 500
    assert moved.json()["reservation"]["queued"] == 500
    resumed = client.post(f"/api/v1/reservations/{r['id']}/resume", headers=env.headers)
    assert resumed.status_code == 200 and resumed.json()["status"] == "approved"
    reservation = db.get(Reservation, r["id"])
    assert reservation is not None
    assert_counters_add_up(db, reservation)
    history = client.get(f"/api/v1/reservations/{r['id']}/history", headers=env.headers).json()
    assert [h["to_status"] for h in history["history"]] == [
        "pending",
        "approved",
        "paused",
        "approved",
    ]


def test_cancel_releases_the_hold(client, db, env) -> None:  # type: ignore[no-untyped-def]
    r = _create(client, env, count=500)
    assert ledger.balance(db, env.member_id).available == 1_500
    resp = client.post(f"/api/v1/reservations/{r['id']}/cancel", headers=env.headers)
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    assert resp.json()["queued"] == 0
    assert ledger.balance(db, env.member_id).available == 2_000
    assert ledger.reservation_hold_outstanding(db, r["id"]) == 0
    assert (
        db.scalar(
            select(SendItem.id).where(
                SendItem.reservation_id == r["id"], SendItem.state == ItemState.QUEUED.value
            )
        )
        is None
    )
    again = client.post(f"/api/v1/reservations/{r['id']}/cancel", headers=env.headers)
    assert again.status_code == 409


def test_additions_need_operator_approval(client, db, make_user, env) -> None:  # type: ignore[no-untyped-def]
    _, op = make_operator(db, make_user)
    r = _create(client, env, count=500)
    for count, code in (
        (50, "addition_count_below_minimum"),
        (150, "addition_count_not_multiple"),
        (1_600, "count_exceeds_tickets"),
    ):
        resp = client.post(
            f"/api/v1/reservations/{r['id']}/additions", json={"count": count}, headers=env.headers
        )
        assert resp.status_code == 400 and resp.json()["error"]["code"] == code
    resp = client.post(
        f"/api/v1/reservations/{r['id']}/additions", json={"count": 1_500}, headers=env.headers
    )
    assert resp.status_code == 201 and resp.json()["status"] == "pending"
    addition_id = resp.json()["id"]
    # Nothing is held before approval.
    assert ledger.balance(db, env.member_id).available == 1_500
    detail = client.get(f"/api/v1/reservations/{r['id']}", headers=env.headers).json()
    assert [a["id"] for a in detail["pending_additions"]] == [addition_id]
    assert (
        client.post(f"/api/v1/additions/{addition_id}/approve", headers=env.headers).status_code
        == 403
    )
    ok = client.post(f"/api/v1/additions/{addition_id}/approve", headers=op)
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    detail = client.get(f"/api/v1/reservations/{r['id']}", headers=env.headers).json()
    assert detail["count"] == 2_000 and detail["pending_additions"] == []
    assert ledger.balance(db, env.member_id).available == 0
    assert ledger.reservation_hold_outstanding(db, r["id"]) == 2_000
    twice = client.post(f"/api/v1/additions/{addition_id}/approve", headers=op)
    assert twice.status_code == 409


def test_addition_refused_at_approval_when_tickets_are_gone(client, db, make_user, env) -> None:  # type: ignore[no-untyped-def]
    _, op = make_operator(db, make_user)
    r = _create(client, env, count=500)
    addition = client.post(
        f"/api/v1/reservations/{r['id']}/additions", json={"count": 1_500}, headers=env.headers
    ).json()
    industry = make_prospects(db, 600)
    other = client.post(
        "/api/v1/reservations", json=env.body(300, list_url=list_url(industry)), headers=env.headers
    )
    assert other.status_code == 201
    resp = client.post(f"/api/v1/additions/{addition['id']}/approve", headers=op)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "count_exceeds_tickets"
    assert ledger.balance(db, env.member_id).available == 1_200


def test_items_and_csv(client, db, env) -> None:  # type: ignore[no-untyped-def]
    from tests.builders import force_outcomes

    r = _create(client, env)
    force_outcomes(db, r["id"], 3, ItemState.FAILED.value)
    page = client.get(f"/api/v1/reservations/{r['id']}/items?status=failed", headers=env.headers)
    assert page.status_code == 200
    data = page.json()
    assert data["total"] == 3
    assert {i["reason"] for i in data["items"]} == {"no_form"}
    assert data["items"][0]["reason_ja"] == "フォームなし"
    by_reason = client.get(
        f"/api/v1/reservations/{r['id']}/items?reason=no_form&per_page=2", headers=env.headers
    ).json()
    assert by_reason["total"] == 3 and len(by_reason["items"]) == 2
    bad = client.get(f"/api/v1/reservations/{r['id']}/items?status=bogus", headers=env.headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_filter"
    csv_resp = client.get(
        f"/api/v1/reservations/{r['id']}/items.csv?status=failed", headers=env.headers
    )
    assert csv_resp.status_code == 200
    assert csv_resp.content.startswith("\ufeff".encode())
    lines = csv_resp.content.decode("utf-8-sig").strip().splitlines()
    assert lines[0].startswith("ID,会社名,URL")
    assert len(lines) == 4 and "フォームなし" in lines[1]


def test_evidence_links_are_served_to_the_owner_only(
    client, db, make_user, env, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from shared.config import get_settings
    from tests.builders import force_outcomes

    monkeypatch.setenv("MIKOMI_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        r = _create(client, env)
        paused = client.post(f"/api/v1/reservations/{r['id']}/pause", headers=env.headers)
        assert paused.status_code == 409  # pending cannot be paused; no body is fine
        force_outcomes(db, r["id"], 1, ItemState.FAILED.value)
        item_id = db.scalar(
            select(SendItem.id).where(
                SendItem.reservation_id == r["id"], SendItem.state == ItemState.FAILED.value
            )
        )
        folder = tmp_path / "evidence" / str(r["id"]) / str(item_id)
        folder.mkdir(parents=True)
        (folder / "result.png").write_bytes(b"\x89PNG fake")
        page = client.get(
            f"/api/v1/reservations/{r['id']}/items?status=failed", headers=env.headers
        )
        links = page.json()["items"][0]["evidence_links"]
        assert links == [f"/api/v1/reservations/{r['id']}/items/{item_id}/evidence/result.png"]
        assert client.get(links[0], headers=env.headers).content == b"\x89PNG fake"
        other = MemberEnv(db, make_user, tickets=0, prospects=0)
        assert client.get(links[0], headers=other.headers).status_code == 404
        missing = links[0].replace("result.png", "..%2Fsecret")
        assert client.get(missing, headers=env.headers).status_code == 404
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
