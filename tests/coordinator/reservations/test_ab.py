"""A/B scripts (docs/rules.md#ab-scripts): a reservation takes two of the member's scripts,
its items alternate between them, and the detail page compares what each script got."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coordinator.reservations import ab
from shared import clock
from shared.enums import ItemState, ResponseKind
from shared.models import Reservation, Response, SendItem
from tests.builders import MemberEnv, list_url, make_prospects, make_script
from tests.support.web import csrf_of, login


def _arms(db: Session, reservation_id: int) -> dict[int | None, int]:
    rows = db.execute(
        select(SendItem.script_id, func.count())
        .where(SendItem.reservation_id == reservation_id)
        .group_by(SendItem.script_id)
    )
    return {script_id: int(n) for script_id, n in rows}


def test_two_scripts_alternate_and_a_list_added_keeps_the_halves_even(
    client: TestClient, db: Session, make_user: Any
) -> None:
    env = MemberEnv(db, make_user, tickets=1_000, prospects=601)
    b = make_script(db, env.member_id, {**env.script.content, "name": "スクリプトB"})
    db.commit()
    made = client.post(
        "/api/v1/reservations", json=env.body(300, script_ids=[env.script.id, b.id]),
        headers=env.headers,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    out = made.json()
    assert (out["script_id"], out["script_b_id"]) == (env.script.id, b.id)
    arms = _arms(db, out["id"])
    assert set(arms) == {None, b.id}  # A items follow the reservation's script (PATCH-able)
    assert abs(arms[None] - arms[b.id]) <= 1 and sum(arms.values()) == 601
    # In id order the items alternate A, B, A, B …
    ordered = db.scalars(
        select(SendItem.script_id).where(SendItem.reservation_id == out["id"]).order_by(SendItem.id)
    ).all()
    assert ordered[:4] == [None, b.id, None, b.id]
    assert (
        client.get(f"/api/v1/reservations/{out['id']}", headers=env.headers).json()["script_b_id"]
        == b.id
    )
    # A list added later goes on alternating from where the queue stands.
    more = list_url(make_prospects(db, 101))
    added = client.post(
        f"/api/v1/reservations/{out['id']}/transfers",
        json={"list_url": more, "count": 101, "script_id": env.script.id}, headers=env.headers,
    )  # fmt: skip
    assert added.status_code == 201, added.text
    arms = _arms(db, out["id"])
    assert sum(arms.values()) == 702 and arms[None] == arms[b.id] == 351


def test_the_second_script_must_be_another_of_the_members_own(
    client: TestClient, db: Session, make_user: Any
) -> None:
    env = MemberEnv(db, make_user, tickets=1_000, prospects=600)
    other = MemberEnv(db, make_user, tickets=0, prospects=0)
    same = client.post(
        "/api/v1/reservations", json=env.body(300, script_ids=[env.script.id, env.script.id]),
        headers=env.headers,
    )  # fmt: skip
    assert same.status_code == 400 and same.json()["error"]["code"] == "ab_scripts_same"
    foreign = client.post(
        "/api/v1/reservations", json=env.body(300, script_ids=[env.script.id, other.script.id]),
        headers=env.headers,
    )  # fmt: skip
    assert foreign.status_code in (400, 404)
    assert foreign.json()["error"]["code"] == "script_not_found"
    for bad in (
        {"script_ids": [env.script.id, other.script.id, env.script.id]},
        {"script_ids": []},
        {"script_id": None},
    ):
        body = env.body(300, **bad)
        if bad == {"script_id": None}:
            del body["script_id"]
        assert (
            client.post("/api/v1/reservations", json=body, headers=env.headers).status_code == 422
        )
    assert db.scalar(select(func.count()).select_from(Reservation).where(
        Reservation.member_id == env.member_id)) == 0  # fmt: skip


def test_the_detail_page_compares_the_two_scripts(
    client: TestClient, db: Session, make_user: Any
) -> None:
    env = MemberEnv(db, make_user, tickets=1_000, prospects=600)
    b = make_script(db, env.member_id, {**env.script.content, "name": "スクリプトB"})
    db.commit()
    # The reservation form's second (optional) script select.
    token = login(client, env.user)
    form = client.get("/reservations/new")
    assert 'name="script_b_id"' in form.text
    made = client.post(
        "/reservations/new",
        data={
            "csrf_token": csrf_of(form.text) or token, "list_url": env.list_url,
            "script_id": str(env.script.id), "script_b_id": str(b.id), "count": "300",
            "senders": "1", "window_always": "1",
        },
        follow_redirects=False,
    )  # fmt: skip
    assert made.status_code == 303, made.text
    reservation = db.scalars(
        select(Reservation).where(Reservation.member_id == env.member_id)
    ).one()
    assert reservation.script_b_id == b.id
    items = db.scalars(
        select(SendItem).where(SendItem.reservation_id == reservation.id).order_by(SendItem.id)
    ).all()
    a_items = [i for i in items if i.script_id is None][:4]
    b_items = [i for i in items if i.script_id == b.id][:4]
    now = clock.now()
    # A: 4 sent, 2 with an auto-reply, 1 replied, 1 clicked; B: 2 sent, 1 failed, 1 refusal.
    for item in [*a_items, *b_items[:2]]:
        item.state, item.finished_at = ItemState.SENT.value, now
    b_items[2].state = ItemState.FAILED.value
    a_items[0].first_click_at = now

    def mail(item: SendItem, kind: ResponseKind, refusal: bool = False) -> None:
        db.add(Response(item_id=item.id, reservation_id=reservation.id, kind=kind.value,
                        refusal=refusal, received_at=now))  # fmt: skip

    mail(a_items[0], ResponseKind.AUTO_REPLY)
    mail(a_items[0], ResponseKind.AUTO_REPLY)  # two mails, one item
    mail(a_items[1], ResponseKind.AUTO_REPLY)
    mail(a_items[1], ResponseKind.REPLY)
    mail(b_items[0], ResponseKind.REPLY, refusal=True)
    db.commit()
    a, bb = ab.compare(db, reservation)
    assert (a.arm, a.script_id, bb.arm, bb.script_id) == ("A", env.script.id, "B", b.id)
    assert (a.counts.attempted, a.counts.sent, a.counts.auto_replies, a.counts.replies,
            a.counts.refusals, a.counts.clicks) == (4, 4, 2, 1, 0, 1)  # fmt: skip
    assert (bb.counts.attempted, bb.counts.sent, bb.counts.auto_replies, bb.counts.replies,
            bb.counts.refusals, bb.counts.clicks) == (3, 2, 0, 0, 1, 0)  # fmt: skip
    page = client.get(f"/reservations/{reservation.id}").text
    table = re.search(r'<section class="card" id="ab-comparison">.*?</section>', page, re.S)
    assert table, "no A/B comparison on the detail page"

    def cell(arm: str, col: str) -> str:
        row = re.search(rf'<tr data-arm="{arm}">.*?</tr>', table.group(0), re.S)
        assert row
        found = re.search(rf'data-col="{col}">([^<]*)<', row.group(0))
        assert found
        return found.group(1)

    assert [cell("A", c) for c in ("sent", "delivery_rate", "auto_reply_rate", "reply_rate", "click_rate")] == [
        "4", "100.0%", "50.0%", "25.0%", "25.0%"
    ]  # fmt: skip
    assert [cell("B", c) for c in ("sent", "delivery_rate", "refusal_rate", "reply_rate")] == [
        "2", "66.7%", "50.0%", "0.0%"
    ]  # fmt: skip
    assert "スクリプト（B）" in page
    # The results CSV says which script each item is sent with.
    exported = client.get(f"/reservations/{reservation.id}/results.csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    by_id = {int(row["ID"]): int(row["スクリプトID"]) for row in rows}
    assert {by_id[i.id] for i in a_items} == {env.script.id}
    assert {by_id[i.id] for i in b_items} == {b.id}


def test_a_one_script_reservation_has_no_comparison(db: Session, make_user: Any) -> None:
    env = MemberEnv(db, make_user, tickets=0, prospects=0)
    reservation = Reservation(member_id=env.member_id, script_id=env.script.id, list_query="",
                              count=300, senders=1, status="pending")  # fmt: skip
    db.add(reservation)
    db.flush()
    assert ab.compare(db, reservation) == []
