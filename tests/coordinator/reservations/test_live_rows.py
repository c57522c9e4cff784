"""予約一覧's live rows: one request carries the counters of every row of the page (rows the
caller may not see are left out), bounded in size."""

from __future__ import annotations

from sqlalchemy.orm import Session

from coordinator.reservations import views
from tests.builders import MemberEnv, make_operator


def test_one_request_for_every_row(client, db: Session, make_user) -> None:  # type: ignore[no-untyped-def]
    mine = MemberEnv(db, make_user, tickets=1_000, prospects=600)
    theirs = MemberEnv(db, make_user, tickets=1_000, prospects=600)
    _, op = make_operator(db, make_user)
    a = client.post("/api/v1/reservations", json=mine.body(300), headers=mine.headers).json()
    b = client.post("/api/v1/reservations", json=theirs.body(300), headers=theirs.headers).json()
    query = {"ids": [a["id"], b["id"], 999_999]}
    resp = client.get("/api/v1/reservations/live", params=query, headers=op)
    assert resp.status_code == 200, resp.text
    rows = {r["reservation_id"]: r for r in resp.json()["reservations"]}
    assert set(rows) == {a["id"], b["id"]}
    assert rows[a["id"]]["queued"] == a["queued"] and rows[a["id"]]["status_ja"] == "申請中"
    # A member reads only its own rows.
    own = client.get("/api/v1/reservations/live", params=query, headers=mine.headers).json()
    assert [r["reservation_id"] for r in own["reservations"]] == [a["id"]]
    too_many = {"ids": list(range(1, views.MAX_LIVE + 2))}
    assert client.get("/api/v1/reservations/live", params=too_many, headers=op).status_code == 400
