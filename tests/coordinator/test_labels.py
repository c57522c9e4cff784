"""The page, the results CSV, the API and the page script's catalogue say the same Japanese word
for every status, reason and notification kind: each is read from what it really serves."""

from __future__ import annotations

import csv
import html
import io
import json
import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared import clock, labels
from shared.enums import (
    AdditionStatus,
    DoubtReason,
    FailReason,
    ItemState,
    NotificationKind,
    OrderStatus,
    ReservationStatus,
    SkipReason,
)
from shared.models import Member, ReservationAddition, SendItem
from shared.notify import notify
from tests.builders import make_member, make_order, make_reservation

PASSWORD = "password-123"  # make_user's


@pytest.fixture
def member(db: Session, make_user):  # type: ignore[no-untyped-def]
    """A member user (API headers) whose member holds 3,000 tickets."""
    user, headers = make_user("member")
    user.member_id = make_member(db, tickets=3_000).id
    db.commit()
    return user, headers


def _page(client, user, path: str) -> str:  # type: ignore[no-untyped-def]
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    resp = client.get(path)
    assert resp.status_code == 200, resp.text
    return resp.text


def _script_catalogue(page: str) -> dict[str, dict[str, str]]:
    """The catalogue as the page script reads it: the JSON block base.html renders."""
    match = re.search(
        r'<script type="application/json" id="mikomi-labels">(.*?)</script>', page, re.S
    )
    assert match, "page without the label catalogue"
    catalogue: dict[str, dict[str, str]] = json.loads(match.group(1))
    return catalogue


def test_item_states_and_reasons_read_the_same_on_the_page_in_the_csv_and_in_the_api(
    client, db, member
) -> None:  # type: ignore[no-untyped-def]
    user, headers = member
    outcomes: list[tuple[str, str | None]] = [
        *((s.value, None) for s in ItemState if s not in (ItemState.FAILED, ItemState.SKIPPED)),
        *((ItemState.SKIPPED.value, r.value) for r in SkipReason),
        *((ItemState.FAILED.value, r.value) for r in FailReason),
    ]
    outcomes = [  # in_doubt with its reason, not without
        (s, DoubtReason.UNCONFIRMED.value if s == ItemState.IN_DOUBT else r) for s, r in outcomes
    ]
    reservation = make_reservation(
        db, member=db.get(Member, user.member_id), items=len(outcomes), count=300
    )
    rows = db.scalars(
        select(SendItem).where(SendItem.reservation_id == reservation.id).order_by(SendItem.id)
    ).all()
    for item, (state, reason) in zip(rows, outcomes, strict=True):
        item.state, item.reason = state, reason
    db.commit()
    words = {item.id: outcome for item, outcome in zip(rows, outcomes, strict=True)}

    api = client.get(
        f"/api/v1/reservations/{reservation.id}/items?per_page=200", headers=headers
    ).json()["items"]
    from_api = {i["id"]: (i["state_ja"], i["reason_ja"] or "") for i in api}

    body = client.get(f"/api/v1/reservations/{reservation.id}/items.csv", headers=headers)
    table = list(csv.reader(io.StringIO(body.content.decode("utf-8-sig"))))
    assert table[0][4] == "状態" and table[0][6] == "理由（表示）"
    from_csv = {int(row[0]): (row[4], row[6]) for row in table[1:]}

    page = _page(client, user, f"/reservations/{reservation.id}")
    items_table = page.split('<table id="items">', 1)[1].split("</table>", 1)[0]
    from_page = {
        int(item_id): (html.unescape(state), html.unescape(reason))
        for item_id, state, reason in re.findall(
            r'<tr><td>(\d+)</td>.*?<span class="status [a-z_]+">([^<]*)</span></td><td>([^<]*)</td>',
            items_table,
        )
    }
    script = _script_catalogue(page)
    from_script = {
        item_id: (script["item_state"][state], script["reason"][reason] if reason else "")
        for item_id, (state, reason) in words.items()
    }

    assert len(from_page) == len(words)
    assert from_page == from_csv == from_api == from_script
    # and they are the manual's words, every state and reason told apart
    assert from_api == {
        item_id: (labels.ITEM_STATE[state], labels.REASON[reason] if reason else "")
        for item_id, (state, reason) in words.items()
    }
    assert {s for s, _ in from_api.values()} == set(labels.ITEM_STATE.values())
    assert from_api[min(words)][0] == "収集中"
    assert ("送信結果不明", "送信結果不明") in from_api.values()


def test_reservation_and_addition_statuses_read_the_same_on_the_pages_and_in_the_api(
    client, db, member
) -> None:  # type: ignore[no-untyped-def]
    user, headers = member
    company = db.get(Member, user.member_id)
    made = {
        status.value: make_reservation(db, member=company, items=2, status=status.value).id
        for status in ReservationStatus
    }
    approved = made[ReservationStatus.APPROVED.value]
    for status in AdditionStatus:
        db.add(ReservationAddition(reservation_id=approved, count=100, status=status.value))
    db.commit()

    api = client.get("/api/v1/reservations?per_page=200", headers=headers).json()
    from_api = {r["id"]: r["status_ja"] for r in api["reservations"]}
    page = _page(client, user, "/reservations")
    from_page = {
        int(rid): html.unescape(shown)
        for rid, shown in re.findall(
            r'id="reservation-(\d+)">.*?data-counter="status_ja">([^<]*)</span>', page, re.S
        )
    }
    script = _script_catalogue(page)
    from_script = {rid: script["reservation_status"][status] for status, rid in made.items()}
    assert from_page == from_api == from_script
    assert set(from_api.values()) == set(labels.RESERVATION_STATUS.values())

    detail = client.get(f"/api/v1/reservations/{approved}", headers=headers).json()
    [pending] = detail["pending_additions"]
    detail_page = _page(client, user, f"/reservations/{approved}")
    shown = re.findall(r"<li>[^<]*100件：([^<]*)</li>", detail_page)
    assert sorted(shown) == sorted(
        _script_catalogue(detail_page)["addition_status"][s] for s in AdditionStatus
    )
    assert pending["status_ja"] in shown and pending["status_ja"] == "承認待ち"


def test_order_statuses_read_the_same_on_the_page_and_in_the_api(client, db, member) -> None:  # type: ignore[no-untyped-def]
    user, headers = member
    today = clock.now().date()
    for status in OrderStatus:  # make_member has paid one (active) already
        if status == OrderStatus.ACTIVE:
            continue
        make_order(db, user.member_id, status=status.value, applied_on=today)
    db.commit()
    orders = client.get("/api/v1/orders", headers=headers).json()["orders"]
    from_api = {o["id"]: o["status_label"] for o in orders}
    page = _page(client, user, "/orders")
    from_page = dict(
        (int(oid), html.unescape(shown))
        for oid, shown in re.findall(
            r'<tr data-order="(\d+)">.*?<span class="status [a-z_]+">([^<]*)</span>', page, re.S
        )
    )
    script = _script_catalogue(page)["order_status"]
    from_script = {o["id"]: script[o["status"]] for o in orders}
    assert from_page == from_api == from_script
    assert set(from_api.values()) == set(labels.ORDER_STATUS.values())


def test_every_notification_kind_reads_the_same_on_the_page_and_in_the_api(
    client, db, member
) -> None:  # type: ignore[no-untyped-def]
    user, headers = member
    for kind in NotificationKind:
        notify(db, kind=kind, member_id=user.member_id, title=f"種類の確認 {kind.value}")
    db.commit()
    api = client.get("/api/v1/notifications?limit=100", headers=headers).json()
    from_api = {n["kind"]: n["kind_ja"] for n in api["notifications"]}
    page = _page(client, user, "/notifications")
    from_page = {
        kind: html.unescape(shown)
        for kind, shown in re.findall(
            r'data-kind="([a-z_]+)">\s*<td>[^<]*</td><td>([^<]*)</td>', page
        )
    }
    assert set(from_page) == {k.value for k in NotificationKind}
    assert from_page == from_api == _script_catalogue(page)["notification_kind"]
    # no kind is shown as its English word any more
    assert all(re.search(r"[^\x00-\x7f]", shown) for shown in from_page.values())
