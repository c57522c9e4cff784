"""An A/B reservation's script A cannot become its script B (docs/rules.md#ab-scripts): the
A items record the script they go out with, and the comparison tells the halves apart by
script, so A = B would count every later A item as B."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from shared.models import Reservation
from tests.builders import MemberEnv, make_script


def test_script_a_cannot_become_script_b(client: TestClient, db: Session, make_user: Any) -> None:
    env = MemberEnv(db, make_user, tickets=1_000, prospects=600)
    b = make_script(db, env.member_id, {**env.script.content, "name": "スクリプトB"})
    db.commit()
    made = client.post(
        "/api/v1/reservations", json=env.body(300, script_ids=[env.script.id, b.id]),
        headers=env.headers,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    rid = made.json()["id"]
    changed = client.patch(
        f"/api/v1/reservations/{rid}", json={"script_id": b.id}, headers=env.headers
    )
    assert changed.status_code == 400, changed.text
    assert changed.json()["error"]["code"] == "ab_scripts_same"
    db.expire_all()
    reservation = db.get(Reservation, rid)
    assert reservation is not None
    assert (reservation.script_id, reservation.script_b_id) == (env.script.id, b.id)
    # another script for A is still a change the member may make
    c = make_script(db, env.member_id, {**env.script.content, "name": "スクリプトC"})
    db.commit()
    ok = client.patch(f"/api/v1/reservations/{rid}", json={"script_id": c.id}, headers=env.headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["script_id"] == c.id
