"""The operators' 予約一覧 is paged and searchable (a No, a company, a person), on the page and
in the API."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from coordinator.web import operator_pages
from shared.models import Member
from tests.builders import (
    MemberEnv,
    list_url,
    make_operator,
    make_prospects,
)
from tests.support.web import login


def _shown(html: str) -> list[int]:
    table = re.search(r'<table id="all-reservations">.*?</table>', html, re.S)
    assert table
    return [int(n) for n in re.findall(r'href="/operator/reservations/(\d+)"', table.group(0))]


def test_reservations_list_is_paged_and_searchable(
    client, db: Session, make_user, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    first = MemberEnv(db, make_user, tickets=2_000, prospects=0)
    second = MemberEnv(db, make_user, tickets=1_000, prospects=0)
    made = []
    for env in (first, first, second):
        body = env.body(300, list_url=list_url(make_prospects(db, 600)))
        made.append(client.post("/api/v1/reservations", json=body, headers=env.headers).json())
    db.get(Member, second.member_id).company_name = second_company = "検索乙株式会社"
    db.commit()
    operator, op_headers = make_operator(db, make_user)
    monkeypatch.setattr(operator_pages, "RESERVATIONS_PER_PAGE", 2)
    login(client, operator)
    ids = [r["id"] for r in made]
    page1 = client.get("/operator/reservations").text
    everyone = _shown(page1)
    assert everyone[:2] == sorted(ids, reverse=True)[:2] and "1 / " in page1
    page2 = client.get("/operator/reservations?page=2").text
    assert ids[0] in _shown(page2) and 'href="/operator/reservations?page=1"' in page2
    # By No, and by a part of the company's name (the API says the same).
    assert _shown(client.get(f"/operator/reservations?q={ids[1]}").text) == [ids[1]]
    by_name = client.get("/operator/reservations", params={"q": "検索乙"}).text
    assert _shown(by_name) == [ids[2]]
    api = client.get("/api/v1/reservations", params={"q": second_company}, headers=op_headers)
    assert ids[2] in [r["id"] for r in api.json()["reservations"]]
    assert ids[0] not in [r["id"] for r in api.json()["reservations"]]
    # A status filter stays in the pager's links.
    filtered = client.get("/operator/reservations", params={"status": "pending"}).text
    assert "status=pending&amp;page=2" in filtered


def test_suppression_and_in_doubt_lists_are_paged(
    client, db: Session, make_user, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from shared import suppression
    from shared.models import SendItem
    from tests.builders import make_reservation

    for n in range(3):
        suppression.suppress(db, f"paged{n}.example.jp", reason="manual")
    suppression.suppress(db, "other-list.example.jp", reason="manual")
    reservation = make_reservation(db, items=3)
    items = db.query(SendItem).filter_by(reservation_id=reservation.id).all()
    for item in items:
        item.state = "in_doubt"
    db.commit()
    operator, _ = make_operator(db, make_user)
    login(client, operator)
    monkeypatch.setattr(operator_pages, "SUPPRESSION_PER_PAGE", 2)
    found = client.get("/operator/suppression", params={"q": "paged"}).text
    table = re.search(r'<table id="suppressions">.*?</table>', found, re.S)
    assert table and "other-list.example.jp" not in table.group(0)
    assert table.group(0).count("<tr><td>paged") == 2 and "1 / 2 ページ" in found
    assert "q=paged&amp;page=2" in found
    second = client.get("/operator/suppression", params={"q": "paged", "page": 2}).text
    assert "paged0.example.jp" in second
    monkeypatch.setattr(operator_pages, "IN_DOUBT_LIMIT", 2)
    first_page = client.get("/operator/in-doubt").text
    assert "1 / " in first_page and 'href="/operator/in-doubt?page=2"' in first_page
    shown = set(re.findall(r'action="/operator/in-doubt/(\d+)"', first_page))
    shown |= set(
        re.findall(
            r'action="/operator/in-doubt/(\d+)"', client.get("/operator/in-doubt?page=2").text
        )
    )
    assert {str(i.id) for i in items} <= shown


def test_orders_list_is_paged_and_searchable(client, db: Session, make_user, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    made = []
    for company in ("検索甲商事", "検索乙商事", "検索乙商事"):
        user, headers = make_user("member", company=company)
        body = {
            "quantity": 1000,
            "company_name": company,
            "contact_name": "申込 太郎",
            "payment_method": "bank_transfer",
        }
        resp = client.post("/api/v1/orders", json=body, headers=headers)
        assert resp.status_code == 201, resp.text
        made.append(resp.json()["id"])
    operator, _ = make_operator(db, make_user)
    login(client, operator)
    monkeypatch.setattr(operator_pages, "ORDERS_PER_PAGE", 1)

    def shown(params: dict[str, str]) -> tuple[list[int], str]:
        html = client.get("/operator/orders", params=params).text
        return [int(n) for n in re.findall(r'<tr id="order-(\d+)"', html)], html

    rows, html = shown({"q": "検索乙"})
    assert rows == [made[2]] and "q=%E6%A4%9C%E7%B4%A2%E4%B9%99&amp;page=2" in html
    assert shown({"q": "検索乙", "page": "2"})[0] == [made[1]]
    assert shown({"q": str(made[0])})[0] == [made[0]]
    assert shown({"status": "active", "q": "検索"})[0] == []
    assert shown({"status": "awaiting_payment", "q": "検索甲"})[0] == [made[0]]
