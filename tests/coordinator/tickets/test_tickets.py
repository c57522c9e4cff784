"""Ticket orders over the API (docs/rules.md#tickets): boundaries, payment, expiry, listing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session

from coordinator.tickets import service
from coordinator.tickets.gateway import CardDeclined, CardInvalid, TestGateway, luhn_ok
from shared import clock, ledger
from shared.enums import LedgerKind
from shared.models import TicketLedgerEntry, TicketOrder
from tests.builders import (
    BAD_LUHN,
    DECLINED_CARD,
    GOOD_CARD,
    make_bare_reservation,
    make_sent_item,
    order_body,
)


def test_card_order_of_2000_costs_44000_yen_and_is_active_at_once(client, make_user) -> None:  # type: ignore[no-untyped-def]
    clock.set_clock(datetime(2022, 1, 13, 3, 0, tzinfo=UTC))  # 12:00 JST
    _, h = make_user("member")
    resp = client.post("/api/v1/orders", json=order_body(2000), headers=h)
    assert resp.status_code == 201, resp.text
    o = resp.json()
    assert (o["quantity"], o["amount_jpy"], o["amount_label"]) == (2000, 44000, "44,000円")
    assert (o["status"], o["status_label"]) == ("active", "作業中")
    assert (
        o["applied_on"] == "2022-01-13"
        and o["due_on"] == "2022-01-23"
        and o["paid_on"] == "2022-01-13"
    )
    assert o["payment_method_label"] == "クレジットカード決済" and o["remaining"] == 2000
    listing = client.get("/api/v1/orders", headers=h).json()
    assert (listing["remaining"], listing["total"]) == (2000, 2000)
    assert [x["id"] for x in listing["orders"]] == [o["id"]]


@pytest.mark.parametrize(
    ("quantity", "code"),
    [
        (0, "quantity_below_minimum"),
        (999, "quantity_below_minimum"),
        (-1000, "quantity_below_minimum"),
        (1500, "quantity_not_multiple"),
        (1001, "quantity_not_multiple"),
        (10_000_000, "quantity_too_large"),
    ],
)
def test_quantity_must_be_whole_thousands(client, make_user, quantity, code) -> None:  # type: ignore[no-untyped-def]
    _, h = make_user("member")
    resp = client.post("/api/v1/orders", json=order_body(quantity), headers=h)
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert (
        err["code"] == code
        and err["field"] == "quantity"
        and "1,000件" in err["message"]
        or code == "quantity_too_large"
    )
    assert client.get("/api/v1/orders", headers=h).json()["orders"] == []


@pytest.mark.parametrize("quantity", [1000, 2000])
def test_quantity_boundaries_that_are_accepted(client, make_user, quantity) -> None:  # type: ignore[no-untyped-def]
    _, h = make_user("member")
    resp = client.post("/api/v1/orders", json=order_body(quantity), headers=h)
    assert resp.status_code == 201
    assert resp.json()["amount_jpy"] == quantity * 22


@pytest.mark.parametrize("quantity", [1000.5, "2000", "二千", None, True, [1000]])
def test_non_integer_quantity_is_422(client, make_user, quantity) -> None:  # type: ignore[no-untyped-def]
    _, h = make_user("member")
    resp = client.post("/api/v1/orders", json=order_body(quantity), headers=h)
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["code"] == "invalid_request" and "quantity" in err["message"]


@pytest.mark.parametrize(
    ("card", "status", "code"),
    [
        (DECLINED_CARD, 402, "card_declined"),
        (BAD_LUHN, 400, "card_number_invalid"),
        ("1234", 400, "card_number_invalid"),
        ("4242-4242-4242-424x", 400, "card_number_invalid"),
        ("", 400, "card_number_required"),
        (None, 400, "card_number_required"),
    ],
)
def test_bad_cards_leave_no_order_and_no_tickets(client, make_user, card, status, code) -> None:  # type: ignore[no-untyped-def]
    me, h = make_user("member")
    resp = client.post("/api/v1/orders", json=order_body(1000, card=card), headers=h)
    assert resp.status_code == status
    err = resp.json()["error"]
    assert err["code"] == code and err["message"]
    if code == "card_declined":
        assert "承認されませんでした" in err["message"]
    listing = client.get("/api/v1/orders", headers=h).json()
    assert listing == {"orders": [], "remaining": 0, "total": 0}


def test_test_gateway_and_luhn() -> None:
    gw = TestGateway()
    assert gw.charge(card_number=GOOD_CARD, amount_jpy=22000, description="x").last4 == "4242"
    assert (
        gw.charge(card_number="5555555555554444", amount_jpy=22000, description="x").last4 == "4444"
    )
    with pytest.raises(CardDeclined):
        gw.charge(card_number="4000000000000002", amount_jpy=22000, description="x")
    with pytest.raises(CardInvalid):
        gw.charge(card_number=BAD_LUHN, amount_jpy=22000, description="x")
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")


def test_bank_transfer_waits_for_an_operator(client, make_user) -> None:  # type: ignore[no-untyped-def]
    clock.set_clock(datetime(2026, 3, 1, 0, 0, tzinfo=UTC))
    _, h = make_user("member")
    _, op = make_user("operator")
    resp = client.post("/api/v1/orders", json=order_body(3000, "bank_transfer", None), headers=h)
    assert resp.status_code == 201
    order = resp.json()
    assert (order["status"], order["status_label"], order["paid_on"]) == (
        "awaiting_payment",
        "入金待ち",
        None,
    )
    assert order["due_on"] == "2026-03-11" and order["remaining"] == 0
    listing = client.get("/api/v1/orders", headers=h).json()
    assert (listing["remaining"], listing["total"]) == (0, 3000)
    # A card number makes no sense for a transfer.
    bad = client.post(
        "/api/v1/orders", json=order_body(1000, "bank_transfer", GOOD_CARD), headers=h
    )
    assert bad.json()["error"]["code"] == "card_number_unexpected"

    # The member cannot confirm its own payment.
    assert (
        client.post(f"/api/v1/orders/{order['id']}/confirm-payment", headers=h).status_code == 403
    )
    clock.advance(timedelta(days=2))
    done = client.post(f"/api/v1/orders/{order['id']}/confirm-payment", headers=op)
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["paid_on"], done.json()["remaining"]) == (
        "active",
        "2026-03-03",
        3000,
    )
    assert client.get("/api/v1/orders", headers=h).json()["remaining"] == 3000
    # Confirming twice is refused and credits nothing more.
    again = client.post(f"/api/v1/orders/{order['id']}/confirm-payment", headers=op)
    assert (
        again.status_code == 409 and again.json()["error"]["code"] == "order_not_awaiting_payment"
    )
    assert client.get("/api/v1/orders", headers=h).json()["remaining"] == 3000
    # The member is told.
    notes = client.get("/api/v1/notifications", headers=h).json()["notifications"]
    assert any(n["kind"] == "payment_confirmed" for n in notes)


def test_confirm_payment_checks(client, make_user) -> None:  # type: ignore[no-untyped-def]
    clock.set_clock(datetime(2026, 3, 1, 0, 0, tzinfo=UTC))
    _, h = make_user("member")
    _, op = make_user("operator")
    card = client.post("/api/v1/orders", json=order_body(1000), headers=h).json()
    r = client.post(f"/api/v1/orders/{card['id']}/confirm-payment", headers=op)
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_bank_transfer"
    assert client.post("/api/v1/orders/999999/confirm-payment", headers=op).status_code == 404
    bank = client.post(
        "/api/v1/orders", json=order_body(1000, "bank_transfer", None), headers=h
    ).json()
    url = f"/api/v1/orders/{bank['id']}/confirm-payment"
    assert (
        client.post(url, json={"paid_on": "2026-03-02"}, headers=op).json()["error"]["code"]
        == "paid_on_in_future"
    )
    assert (
        client.post(url, json={"paid_on": "2026-02-28"}, headers=op).json()["error"]["code"]
        == "paid_on_before_applied"
    )
    assert client.post(url, json={"paid_on": "yesterday"}, headers=op).status_code == 422
    ok = client.post(url, json={"paid_on": "2026-03-01"}, headers=op)
    assert ok.status_code == 200 and ok.json()["paid_on"] == "2026-03-01"


def _jst(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=UTC) - timedelta(hours=9)


def test_due_date_is_applied_plus_10_days_in_japan_time(client, make_user) -> None:  # type: ignore[no-untyped-def]
    _, h = make_user("member")
    # 23:59:59 JST on Jan 13 and 00:00:00 JST on Jan 14 fall on different applied dates.
    clock.set_clock(datetime(2022, 1, 13, 14, 59, 59, tzinfo=UTC))
    a = client.post(
        "/api/v1/orders", json=order_body(1000, "bank_transfer", None), headers=h
    ).json()
    clock.advance(timedelta(seconds=1))
    b = client.post(
        "/api/v1/orders", json=order_body(1000, "bank_transfer", None), headers=h
    ).json()
    assert (a["applied_on"], a["due_on"]) == ("2022-01-13", "2022-01-23")
    assert (b["applied_on"], b["due_on"]) == ("2022-01-14", "2022-01-24")


def test_unpaid_orders_expire_after_the_due_date(db: Session, client, make_user) -> None:  # type: ignore[no-untyped-def]
    clock.set_clock(datetime(2022, 1, 13, 3, 0, tzinfo=UTC))
    _, h = make_user("member")
    _, op = make_user("operator")
    unpaid = client.post(
        "/api/v1/orders", json=order_body(1000, "bank_transfer", None), headers=h
    ).json()
    paid = client.post("/api/v1/orders", json=order_body(1000), headers=h).json()
    assert unpaid["due_on"] == "2022-01-23"
    # Through the whole due date (JST) the order stays payable ...
    last_second = datetime(2022, 1, 23, 14, 59, 59, tzinfo=UTC)  # 23:59:59 JST
    assert service.expire_overdue(db, last_second) == 0
    assert db.get(TicketOrder, unpaid["id"]).status == "awaiting_payment"
    # ... and one second later it has expired; paid orders never expire.
    assert service.expire_overdue(db, last_second + timedelta(seconds=1)) == 1
    assert service.expire_overdue(db, last_second + timedelta(days=30)) == 0
    listing = client.get("/api/v1/orders", headers=h).json()
    by_id = {o["id"]: o for o in listing["orders"]}
    assert (by_id[unpaid["id"]]["status"], by_id[unpaid["id"]]["status_label"]) == (
        "expired",
        "期限切れ",
    )
    assert by_id[paid["id"]]["status"] == "active"
    assert (listing["remaining"], listing["total"]) == (
        1000,
        1000,
    )  # an expired order is not counted
    # A late transfer can still be confirmed by an operator (the money did arrive).
    clock.set_clock(datetime(2022, 1, 25, 3, 0, tzinfo=UTC))
    late = client.post(f"/api/v1/orders/{unpaid['id']}/confirm-payment", headers=op)
    assert late.status_code == 200 and late.json()["status"] == "active"
    assert client.get("/api/v1/orders", headers=h).json()["remaining"] == 2000


def test_remaining_follows_the_ledger_fifo_and_used_up_orders_complete(
    db: Session, client, make_user
) -> None:  # type: ignore[no-untyped-def]
    me, h = make_user("member")
    first = client.post("/api/v1/orders", json=order_body(1000), headers=h).json()
    second = client.post("/api/v1/orders", json=order_body(2000), headers=h).json()
    res = make_bare_reservation(db, me.member_id, 1500)
    ledger.hold(db, me.member_id, 1500, reservation_id=res.id)

    def state() -> tuple[dict[int, tuple[int, str]], int, int]:
        listing = client.get("/api/v1/orders", headers=h).json()
        return (
            {o["id"]: (o["remaining"], o["status"]) for o in listing["orders"]},
            listing["remaining"],
            listing["total"],
        )

    # A hold lowers 残申込数, oldest order first; nothing is consumed yet, so nothing completes.
    orders, remaining, total = state()
    assert orders == {first["id"]: (0, "active"), second["id"]: (1500, "active")}
    assert (remaining, total) == (1500, 3000)
    # Sending 1,000 consumes the first order entirely: 完了. (999 sends as the ledger records
    # them, then the 1,000th through ledger.consume.)
    db.execute(
        insert(TicketLedgerEntry),
        [
            {
                "member_id": me.member_id,
                "kind": LedgerKind.CONSUME.value,
                "quantity": 1,
                "reservation_id": res.id,
            }
            for _ in range(999)
        ],
    )
    orders, _, _ = state()
    assert orders[first["id"]] == (0, "active")  # 999 of 1,000 consumed: not yet
    ledger.consume(db, me.member_id, reservation_id=res.id, item_id=make_sent_item(db, res))
    orders, remaining, _ = state()
    assert orders == {first["id"]: (0, "completed"), second["id"]: (1500, "active")}
    assert remaining == 1500
    assert client.get(f"/api/v1/orders/{first['id']}", headers=h).json()["status_label"] == "完了"
    # Releasing the unsent hold gives the tickets back to the second order.
    ledger.release(db, me.member_id, reservation_id=res.id)
    orders, remaining, _ = state()
    assert orders == {first["id"]: (0, "completed"), second["id"]: (2000, "active")}
    assert remaining == ledger.balance(db, me.member_id).available == 2000


def test_orders_are_private_to_their_member(client, make_user) -> None:  # type: ignore[no-untyped-def]
    a, ha = make_user("member", company="A社")
    b, hb = make_user("member", company="B社")
    _, op = make_user("operator")
    oa = client.post("/api/v1/orders", json=order_body(1000), headers=ha).json()
    ob = client.post(
        "/api/v1/orders", json=order_body(2000, "bank_transfer", None), headers=hb
    ).json()
    # Anonymous: 401 everywhere.
    assert client.get("/api/v1/orders").status_code == 401
    assert client.post("/api/v1/orders", json=order_body()).status_code == 401
    assert client.get(f"/api/v1/orders/{oa['id']}").status_code == 401
    assert client.post(f"/api/v1/orders/{ob['id']}/confirm-payment").status_code == 401
    # B sees only its own; A's order is "not found" for B (ids leak nothing).
    assert [o["id"] for o in client.get("/api/v1/orders", headers=hb).json()["orders"]] == [
        ob["id"]
    ]
    assert client.get(f"/api/v1/orders/{oa['id']}", headers=hb).status_code == 404
    # A member cannot look at another member's list through the operator filter.
    assert [
        o["id"]
        for o in client.get(f"/api/v1/orders?member_id={b.member_id}", headers=ha).json()["orders"]
    ] == [oa["id"]]
    # Members cannot confirm payments, not even their own.
    assert client.post(f"/api/v1/orders/{ob['id']}/confirm-payment", headers=hb).status_code == 403
    assert client.post(f"/api/v1/orders/{ob['id']}/confirm-payment", headers=ha).status_code == 403
    # The operator sees everybody's orders, or one member's, and cannot place orders.
    every = {o["id"] for o in client.get("/api/v1/orders", headers=op).json()["orders"]}
    assert {oa["id"], ob["id"]} <= every
    only_a = client.get(f"/api/v1/orders?member_id={a.member_id}", headers=op).json()
    assert [o["id"] for o in only_a["orders"]] == [oa["id"]] and only_a["remaining"] == 1000
    assert client.get(f"/api/v1/orders/{ob['id']}", headers=op).status_code == 200
    assert client.post("/api/v1/orders", json=order_body(), headers=op).status_code == 403


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 422),
        (b'{"quantity": 1000}', 422),
        (
            b'{"quantity": 1000, "company_name": "x", "contact_name": "y", "payment_method": "cash"}',
            422,
        ),
        (
            b'{"quantity": 1000, "company_name": "'
            + b"x" * 300
            + b'", "contact_name": "y", "payment_method": "card"}',
            422,
        ),
        (
            b'{"quantity": 1000, "company_name": " ", "contact_name": "y", "payment_method": "card", "card_number": "4242424242424242"}',
            400,
        ),
        (b"[]", 422),
    ],
)
def test_bad_order_input_is_a_clear_4xx(client, make_user, body, status) -> None:  # type: ignore[no-untyped-def]
    _, h = make_user("member")
    resp = client.post(
        "/api/v1/orders", content=body, headers={**h, "content-type": "application/json"}
    )
    assert resp.status_code == status
    assert resp.json()["error"]["code"] and resp.json()["error"]["message"]


def test_applied_date_uses_the_injected_clock() -> None:
    assert service.today_jst(datetime(2022, 1, 13, 15, 0, tzinfo=UTC)) == date(2022, 1, 14)
    assert service.due_date(date(2022, 1, 13)) == date(2022, 1, 23)
