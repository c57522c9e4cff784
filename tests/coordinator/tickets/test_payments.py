"""Card payments (docs/rules.md#payments): Stripe Checkout through the official library against a
local server that answers the Stripe endpoints we call, webhooks signed exactly as Stripe signs
them, the test gateway only in the demo and the tests, and no card payments without either."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared import ledger
from shared.config import Settings, get_settings
from shared.enums import LedgerKind
from shared.models import PaymentEvent, TicketLedgerEntry, TicketOrder
from tests.builders import make_bare_reservation, make_member, make_order, make_sent_item
from tests.support.web import csrf_of

SECRET_KEY = "sk_test_mikomi"
WEBHOOK_SECRET = "whsec_mikomi_test_secret"


class FakeStripe:
    """The Stripe endpoints Mikomi calls, answering with the documented object shapes."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], str]] = []  # method, path, form, auth
        self.sessions: dict[str, dict[str, Any]] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Request-Id", f"req_{uuid.uuid4().hex[:14]}")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> dict[str, str]:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode())) if length else {}
                auth = self.headers.get("Authorization", "")
                fake.requests.append((self.command, self.path, form, auth))
                return form

            def do_POST(self) -> None:  # noqa: N802
                form = self._record()
                if self.path == "/v1/checkout/sessions":
                    self._answer(200, fake.new_session(form))
                elif self.path == "/v1/refunds":
                    self._answer(200, fake.new_refund(form))
                else:
                    self._not_found()

            def do_GET(self) -> None:  # noqa: N802
                self._record()
                prefix = "/v1/payment_intents/"
                if self.path.startswith(prefix) and self.path[len(prefix) :] in fake.intents:
                    self._answer(200, fake.intents[self.path[len(prefix) :]])
                else:
                    self._not_found()

            def _not_found(self) -> None:
                self._answer(
                    404,
                    {
                        "error": {
                            "type": "invalid_request_error",
                            "message": f"Unrecognized request URL ({self.command}: {self.path})",
                        }
                    },
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def new_session(self, form: dict[str, str]) -> dict[str, Any]:
        sid = f"cs_test_{uuid.uuid4().hex}"
        order_id = form["metadata[order_id]"]
        intent = f"pi_{uuid.uuid4().hex[:24]}"
        amount = int(form["line_items[0][price_data][unit_amount]"])
        session = {
            "id": sid,
            "object": "checkout.session",
            "amount_subtotal": amount,
            "amount_total": amount,
            "cancel_url": form["cancel_url"],
            "client_reference_id": form["client_reference_id"],
            "currency": form["line_items[0][price_data][currency]"],
            "customer": None,
            "expires_at": int(time.time()) + 86400,
            "livemode": False,
            "metadata": {"order_id": order_id},
            "mode": "payment",
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": form["success_url"],
            "url": f"https://checkout.stripe.com/c/pay/{sid}#fidkdWxOYHwnPyd1blpxYHZxWjA0",
        }
        self.sessions[sid] = session
        self.intents[intent] = {
            "id": intent,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "currency": session["currency"],
            "metadata": {"order_id": order_id},
            "status": "succeeded",
            "livemode": False,
        }
        session["_intent"] = intent  # what the session's payment_intent becomes once paid
        return {k: v for k, v in session.items() if not k.startswith("_")}

    def new_refund(self, form: dict[str, str]) -> dict[str, Any]:
        intent = self.intents[form["payment_intent"]]
        return {
            "id": f"re_{uuid.uuid4().hex[:24]}",
            "object": "refund",
            "amount": intent["amount"],
            "charge": f"ch_{uuid.uuid4().hex[:24]}",
            "currency": intent["currency"],
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
            "payment_intent": intent["id"],
            "status": "succeeded",
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    server = FakeStripe()
    yield server
    server.close()


@pytest.fixture
def stripe_mode(monkeypatch: pytest.MonkeyPatch, fake_stripe: FakeStripe) -> Iterator[FakeStripe]:
    monkeypatch.setenv("MIKOMI_PAYMENTS", "stripe")
    monkeypatch.setenv("MIKOMI_STRIPE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("MIKOMI_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("MIKOMI_STRIPE_API_BASE", fake_stripe.url)
    get_settings.cache_clear()
    fake_stripe.requests.clear()
    yield fake_stripe
    get_settings.cache_clear()


# --- events, signed as Stripe signs them -------------------------------------------------------


def event(kind: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, t: int | None = None) -> str:
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.{payload.decode()}".encode(), hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


def deliver(client: Any, evt: dict[str, Any], **sign_kwargs: Any) -> Any:
    payload = json.dumps(evt).encode()
    return client.post(
        "/api/v1/payments/stripe/webhook",
        content=payload,
        headers={
            "Stripe-Signature": sign(payload, **sign_kwargs),
            "Content-Type": "application/json",
        },
    )


def completed(fake: FakeStripe, order: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The checkout.session.completed object of the order's session, paid."""
    session = dict(fake.sessions[_session_id(order)])
    session.update(payment_status="paid", status="complete", payment_intent=session["_intent"])
    session.update(changes)
    return {k: v for k, v in session.items() if not k.startswith("_")}


def _session_id(order: dict[str, Any]) -> str:
    return order["checkout_url"].split("/pay/")[1].split("#")[0]


def intent_of(fake: FakeStripe, order: dict[str, Any]) -> dict[str, Any]:
    return dict(fake.intents[fake.sessions[_session_id(order)]["_intent"]])


def charge_refunded(intent: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": f"ch_{uuid.uuid4().hex[:24]}",
        "object": "charge",
        "amount": intent["amount"],
        "amount_refunded": intent["amount"],
        "currency": "jpy",
        "payment_intent": intent["id"],
        "refunded": True,
        **extra,
    }


ORDER = {
    "quantity": 2000,
    "company_name": "カード株式会社",
    "contact_name": "決済 花子",
    "payment_method": "card",
}


def purchases(db: Session, order_id: int) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(TicketLedgerEntry)
            .where(
                TicketLedgerEntry.order_id == order_id,
                TicketLedgerEntry.kind == LedgerKind.PURCHASE.value,
            )
        )
        or 0
    )


def place(client: Any, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    resp = client.post("/api/v1/orders", json={**ORDER, **changes}, headers=headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


# --- Stripe -------------------------------------------------------------------------------------


def test_a_card_order_waits_for_the_signed_webhook(
    db: Session, client, make_user, stripe_mode
) -> None:  # type: ignore[no-untyped-def]
    me, h = make_user("member")
    # Card numbers never reach Mikomi with Stripe: one sent along is refused, not passed on.
    resp = client.post(
        "/api/v1/orders", json={**ORDER, "card_number": "4242424242424242"}, headers=h
    )
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "card_number_not_accepted"
    assert stripe_mode.requests == []

    order = place(client, h)
    assert (order["status"], order["status_label"], order["remaining"]) == (
        "awaiting_payment",
        "入金待ち",
        0,
    )
    assert order["checkout_url"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    assert (order["gateway"], order["gateway_status"], order["gateway_status_label"]) == (
        "stripe",
        "open",
        "決済待ち",
    )
    # One Checkout Session in JPY for the order's amount, made with our secret key.
    [(method, path, form, auth)] = stripe_mode.requests
    assert (method, path, auth) == ("POST", "/v1/checkout/sessions", f"Bearer {SECRET_KEY}")
    assert form["mode"] == "payment" and form["line_items[0][price_data][currency]"] == "jpy"
    assert form["line_items[0][price_data][unit_amount]"] == "44000"
    assert form["metadata[order_id]"] == form["client_reference_id"] == str(order["id"])
    assert form["payment_intent_data[metadata][order_id]"] == str(order["id"])
    assert form["success_url"].endswith(f"/orders?checkout=success&order={order['id']}")
    assert not any("4242" in value for value in form.values())
    assert client.get("/api/v1/orders", headers=h).json()["remaining"] == 0

    # The signed webhook settles it: 作業中, 2,000 tickets, paid today.
    resp = deliver(client, event("checkout.session.completed", completed(stripe_mode, order)))
    assert resp.status_code == 200 and resp.json() == {"received": True, "outcome": "paid"}
    paid = client.get(f"/api/v1/orders/{order['id']}", headers=h).json()
    assert (paid["status"], paid["remaining"], paid["gateway_status"]) == ("active", 2000, "paid")
    assert paid["paid_on"] is not None and paid["checkout_url"] is None
    assert paid["payment_intent_id"] == intent_of(stripe_mode, order)["id"]
    assert ledger.balance(db, me.member_id).available == 2000
    notes = client.get("/api/v1/notifications", headers=h).json()["notifications"]
    assert any(n["kind"] == "payment_confirmed" for n in notes)
    # An operator cannot confirm a card order by hand.
    _, op = make_user("operator")
    resp = client.post(f"/api/v1/orders/{order['id']}/confirm-payment", headers=op)
    assert resp.json()["error"]["code"] == "not_bank_transfer"


def test_paid_twice_credits_once_in_any_order_of_events(
    db: Session, client, make_user, stripe_mode
) -> None:  # type: ignore[no-untyped-def]
    me, h = make_user("member")
    order = place(client, h)
    # payment_intent.succeeded may come first; checkout.session.completed finds the order paid.
    first = event("payment_intent.succeeded", intent_of(stripe_mode, order))
    assert deliver(client, first).json()["outcome"] == "paid"
    done = event("checkout.session.completed", completed(stripe_mode, order))
    assert deliver(client, done).json()["outcome"] == "already_paid"
    # The same events again (Stripe retries, a replay): nothing more.
    assert deliver(client, done).json()["outcome"] == "duplicate"
    assert deliver(client, first).json()["outcome"] == "duplicate"
    assert purchases(db, order["id"]) == 1
    assert ledger.balance(db, me.member_id).available == 2000
    events = db.scalar(
        select(func.count()).select_from(PaymentEvent).where(PaymentEvent.order_id == order["id"])
    )
    assert events == 2


def test_the_webhook_may_come_before_or_after_the_member_returns(
    db: Session, client, make_user, stripe_mode
) -> None:  # type: ignore[no-untyped-def]
    me, _ = make_user("member", email=f"pay-{uuid.uuid4().hex[:6]}@example.test")
    page = client.post(
        "/login", data={"email": me.email, "password": "password-123"}, follow_redirects=False
    )
    assert page.status_code == 303
    csrf = csrf_of(client.get("/orders").text)
    values = {k: str(v) for k, v in ORDER.items()} | {"csrf_token": csrf}

    def buy() -> dict[str, Any]:
        # この内容で決済する sends the member to Stripe's page.
        resp = client.post("/orders/confirm", data=values, follow_redirects=False)
        assert resp.status_code == 303, resp.text
        assert resp.headers["location"].startswith("https://checkout.stripe.com/c/pay/")
        newest = db.scalar(
            select(TicketOrder)
            .where(TicketOrder.member_id == me.member_id)
            .order_by(TicketOrder.id.desc())
        )
        assert newest is not None and newest.checkout_url == resp.headers["location"]
        return {"id": newest.id, "checkout_url": newest.checkout_url}

    def back_from_stripe(order: dict[str, Any]) -> str:
        row = client.get(f"/orders?checkout=success&order={order['id']}").text
        return row.split(f'data-order="{order["id"]}"')[1].split("</tr>")[0]

    # The webhook first: the member comes back to an active order.
    early = buy()
    deliver(client, event("checkout.session.completed", completed(stripe_mode, early)))
    assert "作業中" in back_from_stripe(early)
    # The member first: the order still waits (the return URL settles nothing) …
    late = buy()
    page = client.get(f"/orders?checkout=success&order={late['id']}").text
    assert "入金待ち" in back_from_stripe(late) and "決済の確認中" in page
    assert purchases(db, late["id"]) == 0
    # お支払いへ進む takes the member back to the session's page.
    assert f'action="/orders/{late["id"]}/checkout"' in back_from_stripe(late)
    resp = client.post(
        f"/orders/{late['id']}/checkout", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert resp.status_code == 303 and resp.headers["location"] == late["checkout_url"]
    # … until the webhook comes.
    deliver(client, event("checkout.session.completed", completed(stripe_mode, late)))
    assert "作業中" in back_from_stripe(late)
    assert ledger.balance(db, me.member_id).available == 4000


def test_unknown_sessions_and_bad_signatures_change_nothing(
    db: Session, client, make_user, stripe_mode
) -> None:  # type: ignore[no-untyped-def]
    me, h = make_user("member")
    order = place(client, h)
    foreign = completed(stripe_mode, order, id=f"cs_test_{uuid.uuid4().hex}")
    resp = deliver(client, event("checkout.session.completed", foreign))
    assert resp.status_code == 200 and resp.json()["outcome"] == "unknown_order"
    stray = dict(intent_of(stripe_mode, order), metadata={"order_id": "999999999"})
    assert deliver(client, event("payment_intent.succeeded", stray)).json()["outcome"] == (
        "unknown_order"
    )

    good = event("checkout.session.completed", completed(stripe_mode, order))
    payload = json.dumps(good).encode()
    url = "/api/v1/payments/stripe/webhook"
    # Tampered (a signature of another body), stale (older than Stripe's 5-minute tolerance),
    # signed with another secret, or unsigned: 400, and the event is not spent.
    tampered = payload.replace(b'"amount_total": 44000', b'"amount_total": 1')
    assert tampered != payload
    for body, header in (
        (tampered, sign(payload)),
        (payload, sign(payload, t=int(time.time()) - 301)),
        (payload, sign(payload, secret="whsec_someone_else")),
        (payload, ""),
        (payload, "t=abc,v1=zzz"),
    ):
        resp = client.post(url, content=body, headers={"Stripe-Signature": header})
        assert resp.status_code == 400, (header, resp.text)
        assert resp.json()["error"]["code"] == "signature_invalid"
    assert purchases(db, order["id"]) == 0
    # The genuine delivery still applies.
    assert deliver(client, good).json()["outcome"] == "paid"
    assert ledger.balance(db, me.member_id).available == 2000


def test_an_expired_session_leaves_the_order_awaiting_payment(
    client, make_user, stripe_mode
) -> None:  # type: ignore[no-untyped-def]
    _, h = make_user("member")
    order = place(client, h)
    session = dict(completed(stripe_mode, order), status="expired", payment_status="unpaid")
    assert deliver(client, event("checkout.session.expired", session)).json()["outcome"] == (
        "expired"
    )
    after = client.get(f"/api/v1/orders/{order['id']}", headers=h).json()
    assert after["checkout_url"] is None  # the expired page is no place to pay
    assert (after["status"], after["gateway_status_label"], after["remaining"]) == (
        "awaiting_payment",
        "決済期限切れ",
        0,
    )
    # A session that completed unpaid (an asynchronous method) settles nothing either.
    unpaid = dict(completed(stripe_mode, order), payment_status="unpaid")
    assert deliver(client, event("checkout.session.completed", unpaid)).json()["outcome"] == (
        "not_paid"
    )
    wrong = completed(stripe_mode, order, amount_total=100)
    assert deliver(client, event("checkout.session.completed", wrong)).json()["outcome"] == (
        "amount_mismatch"
    )
    assert client.get(f"/api/v1/orders/{order['id']}", headers=h).json()["status"] == (
        "awaiting_payment"
    )


def test_charge_refunded_withdraws_only_the_unused_tickets(
    db: Session, client, make_user, stripe_mode
) -> None:  # type: ignore[no-untyped-def]
    me, h = make_user("member")
    _, op = make_user("operator")
    order = place(client, h)
    deliver(client, event("checkout.session.completed", completed(stripe_mode, order)))
    # 500 held by a reservation, 1 of them sent (consumed).
    res = make_bare_reservation(db, me.member_id, 500)
    ledger.hold(db, me.member_id, 500, reservation_id=res.id)
    ledger.consume(db, me.member_id, reservation_id=res.id, item_id=make_sent_item(db, res))
    db.commit()
    before = ledger.balance(db, me.member_id)
    assert (before.available, before.held, before.consumed) == (1500, 499, 1)

    refund = event("charge.refunded", charge_refunded(intent_of(stripe_mode, order)))
    assert deliver(client, refund).json()["outcome"] == "refunded:1500"
    after = ledger.balance(db, me.member_id)
    assert (after.available, after.held, after.consumed) == (0, 499, 1)
    row = client.get(f"/api/v1/orders/{order['id']}", headers=h).json()
    listing = client.get("/api/v1/orders", headers=h).json()
    assert (listing["remaining"], listing["total"]) == (0, 0)  # a refunded order bought nothing
    assert (row["status"], row["status_label"], row["gateway_status"]) == (
        "refunded",
        "返金済み",
        "refunded",
    )
    # The member and the operators are told.
    for headers in (h, op):
        notes = client.get("/api/v1/notifications", headers=headers).json()["notifications"]
        told = [n for n in notes if n["kind"] == "payment_refunded"]
        assert told and "1,500件" in told[0]["body"], notes
    # A replay, and a second refund event of the same charge, withdraw nothing more.
    assert deliver(client, refund).json()["outcome"] == "duplicate"
    again = event("charge.refunded", charge_refunded(intent_of(stripe_mode, order)))
    assert deliver(client, again).json()["outcome"] == "already_refunded"
    assert ledger.balance(db, me.member_id) == after
    # The held tickets are still consumed by sends.
    ledger.consume(db, me.member_id, reservation_id=res.id, item_id=make_sent_item(db, res))
    assert ledger.balance(db, me.member_id).consumed == 2


def test_a_refund_before_the_payment_credits_nothing(
    db: Session, client, make_user, stripe_mode
) -> None:  # type: ignore[no-untyped-def]
    me, h = make_user("member")
    order = place(client, h)
    intent = intent_of(stripe_mode, order)
    # The order does not know its PaymentIntent yet: Mikomi asks Stripe for its metadata.
    refund = event("charge.refunded", charge_refunded(intent))
    assert deliver(client, refund).json()["outcome"] == "refunded:0"
    assert ("GET", f"/v1/payment_intents/{intent['id']}") in {
        (m, p) for m, p, _, _ in stripe_mode.requests
    }
    paid = event("checkout.session.completed", completed(stripe_mode, order))
    assert deliver(client, paid).json()["outcome"] == "ignored_refunded"
    assert purchases(db, order["id"]) == 0
    assert ledger.balance(db, me.member_id).available == 0


def test_an_operator_refunds_an_unused_order_through_stripe(
    db: Session, client, make_user, stripe_mode
) -> None:  # type: ignore[no-untyped-def]
    me, h = make_user("member")
    _, op = make_user("operator")
    used = place(client, h, quantity=1000)
    unused = place(client, h, quantity=2000)
    for order in (used, unused):
        deliver(client, event("checkout.session.completed", completed(stripe_mode, order)))
    res = make_bare_reservation(db, me.member_id, 300)
    ledger.hold(db, me.member_id, 300, reservation_id=res.id)  # from the older order (FIFO)
    db.commit()

    assert client.post(f"/api/v1/orders/{unused['id']}/refund", headers=h).status_code == 403
    resp = client.post(f"/api/v1/orders/{used['id']}/refund", headers=op)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "order_in_use"
    stripe_mode.requests.clear()
    resp = client.post(f"/api/v1/orders/{unused['id']}/refund", headers=op)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["status"], resp.json()["remaining"]) == ("refunded", 0)
    [(method, path, form, _)] = stripe_mode.requests
    assert (method, path) == ("POST", "/v1/refunds")
    assert form["payment_intent"] == intent_of(stripe_mode, unused)["id"]
    assert ledger.balance(db, me.member_id).available == 700
    # Stripe's charge.refunded that follows changes nothing more.
    refund = event("charge.refunded", charge_refunded(intent_of(stripe_mode, unused)))
    assert deliver(client, refund).json()["outcome"] == "already_refunded"
    assert ledger.balance(db, me.member_id).available == 700
    resp = client.post(f"/api/v1/orders/{unused['id']}/refund", headers=op)
    assert resp.json()["error"]["code"] == "order_not_refundable"


# --- the test gateway and no gateway ------------------------------------------------------------


def test_the_test_gateway_is_honoured_only_in_the_demo_or_the_tests(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert Settings(payments="test").payment_mode == "test"  # under the tests
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    assert Settings(payments="test").payment_mode == "none"
    assert Settings(payments="test", demo=True).payment_mode == "test"
    assert Settings(payments="stripe").payment_mode == "stripe"
    assert Settings().payment_mode == "none"


def test_without_a_gateway_cards_are_refused_and_transfers_work(
    client, make_user, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MIKOMI_PAYMENTS", "")
    get_settings.cache_clear()
    try:
        _, h = make_user("member")
        resp = client.post(
            "/api/v1/orders", json={**ORDER, "card_number": "4242424242424242"}, headers=h
        )
        err = resp.json()["error"]
        assert resp.status_code == 400 and err["code"] == "card_payments_unavailable"
        assert "クレジットカード決済はご利用いただけません" in err["message"]
        assert client.get("/api/v1/orders", headers=h).json()["orders"] == []
        bank = place(client, h, payment_method="bank_transfer")
        assert bank["status"] == "awaiting_payment"
    finally:
        get_settings.cache_clear()


def test_an_operator_refunds_a_test_gateway_order(db: Session, client, make_user) -> None:  # type: ignore[no-untyped-def]
    me, h = make_user("member")
    _, op = make_user("operator")
    order = place(client, h, card_number="4242 4242 4242 4242")
    assert (order["status"], order["gateway"], order["gateway_label"]) == (
        "active",
        "test",
        "テスト決済",
    )
    resp = client.post(f"/api/v1/orders/{order['id']}/refund", headers=op)
    assert resp.status_code == 200 and resp.json()["status"] == "refunded", resp.text
    assert ledger.balance(db, me.member_id).available == 0
    bank = place(client, h, payment_method="bank_transfer")
    resp = client.post(f"/api/v1/orders/{bank['id']}/refund", headers=op)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "not_card_payment"


def test_every_page_says_test_payments_with_the_test_gateway(
    client, monkeypatch, stripe_mode
) -> None:  # type: ignore[no-untyped-def]
    assert "テスト決済" not in client.get("/login").text  # Stripe
    monkeypatch.setenv("MIKOMI_PAYMENTS", "test")
    get_settings.cache_clear()
    assert ">テスト決済<" in client.get("/login").text


def test_stripe_needs_its_keys_to_start() -> None:
    from shared.config import unsafe_setting

    problem = unsafe_setting(Settings(payments="stripe"))
    assert problem and "MIKOMI_STRIPE_SECRET_KEY" in problem
    keys = {"stripe_secret_key": "sk", "stripe_webhook_secret": "whsec"}
    assert unsafe_setting(Settings(payments="stripe", **keys)) is None


def test_the_operators_see_the_stripe_status_and_payment_id(
    db: Session, client, make_user, stripe_mode
) -> None:  # type: ignore[no-untyped-def]
    _, h = make_user("member")
    op_user, _ = make_user("operator", email=f"op-{uuid.uuid4().hex[:6]}@example.test")
    waiting = place(client, h)
    paid = place(client, h)
    deliver(client, event("checkout.session.completed", completed(stripe_mode, paid)))
    client.post("/login", data={"email": op_user.email, "password": "password-123"})
    page = client.get("/operator/orders").text

    def row(order: dict[str, Any]) -> str:
        return page.split(f'id="order-{order["id"]}"')[1].split("</tr>")[0]

    assert "Stripe" in row(waiting) and "決済待ち" in row(waiting)
    assert "入金確認" not in row(waiting)  # a card order is not confirmed by hand
    assert "決済完了" in row(paid) and intent_of(stripe_mode, paid)["id"] in row(paid)
    assert f'action="/operator/orders/{paid["id"]}/refund"' in row(paid)
    csrf = csrf_of(page)
    resp = client.post(
        f"/operator/orders/{paid['id']}/refund", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert resp.status_code == 303 and "done=refunded" in resp.headers["location"]
    assert "返金済み" in client.get("/operator/orders").text.split(f'id="order-{paid["id"]}"')[1]


@pytest.mark.parametrize("engine_name", ["sqlite", "postgresql"])
def test_two_deliveries_of_one_event_at_once_credit_once(engines, engine_name: str) -> None:  # type: ignore[no-untyped-def]
    """Stripe may deliver an event twice at the same moment: separate connections, real
    commits; one applies it, the other finds its id taken."""
    from coordinator.tickets.payments import apply_stripe_event
    from shared.db import transaction
    from shared.locks import writer_lock

    engine = engines[engine_name]
    tag = uuid.uuid4().hex
    with Session(engine) as db:
        member = make_member(db, tickets=0, company=f"同時配信{tag[:8]}")
        order = make_order(
            db,
            member.id,
            payment_method="card",
            applied_on=datetime.date(2026, 3, 1),
            gateway="stripe",
            checkout_session_id=f"cs_test_{tag}",
            gateway_status="open",
        )
        db.commit()
        member_id, order_id = member.id, order.id
    session = {
        "id": f"cs_test_{tag}",
        "object": "checkout.session",
        "amount_total": 22000,
        "currency": "jpy",
        "payment_intent": f"pi_{tag[:24]}",
        "payment_status": "paid",
        "metadata": {"order_id": str(order_id)},
    }
    evt = event("checkout.session.completed", session)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def deliver_once() -> None:
        with Session(engine) as db:
            barrier.wait(timeout=30)
            with transaction(db):
                writer_lock(db)  # as the request dependency does for a POST
                outcomes.append(apply_stripe_event(db, evt, None))

    threads = [threading.Thread(target=deliver_once) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(outcomes) == ["duplicate", "paid"]
    with Session(engine) as db:
        assert purchases(db, order_id) == 1
        assert ledger.balance(db, member_id).available == 1000


def test_a_chargeback_withdraws_the_unused_tickets_too(
    db: Session, client, make_user, stripe_mode
) -> None:  # type: ignore[no-untyped-def]
    me, h = make_user("member")
    order = place(client, h)
    deliver(client, event("checkout.session.completed", completed(stripe_mode, order)))
    intent = intent_of(stripe_mode, order)
    dispute = {
        "id": f"dp_{uuid.uuid4().hex[:24]}",
        "object": "dispute",
        "amount": intent["amount"],
        "charge": f"ch_{uuid.uuid4().hex[:24]}",
        "currency": "jpy",
        "payment_intent": intent["id"],
        "reason": "fraudulent",
        "status": "needs_response",
    }
    assert deliver(client, event("charge.dispute.created", dispute)).json()["outcome"] == (
        "refunded:2000"
    )
    assert ledger.balance(db, me.member_id).available == 0
    notes = client.get("/api/v1/notifications", headers=h).json()["notifications"]
    assert any("チャージバック" in n["body"] for n in notes if n["kind"] == "payment_refunded")


def test_an_expired_session_is_replaced_when_the_member_pays_again(
    db: Session, client, make_user, stripe_mode
) -> None:  # type: ignore[no-untyped-def]
    me, h = make_user("member")
    order = place(client, h)
    url = f"/api/v1/orders/{order['id']}/checkout"
    # While the session is open, paying again goes to the same page.
    again = client.post(url, headers=h)
    assert again.status_code == 200 and again.json()["checkout_url"] == order["checkout_url"]
    session = dict(completed(stripe_mode, order), status="expired", payment_status="unpaid")
    deliver(client, event("checkout.session.expired", session))
    fresh = client.post(url, headers=h).json()
    assert fresh["checkout_url"] and fresh["checkout_url"] != order["checkout_url"]
    assert fresh["gateway_status"] == "open"
    # The new session settles the order; the expired one is no longer known.
    old = completed(stripe_mode, order)
    assert deliver(client, event("checkout.session.completed", old)).json()["outcome"] == (
        "unknown_order"
    )
    new = completed(stripe_mode, fresh)
    assert deliver(client, event("checkout.session.completed", new)).json()["outcome"] == "paid"
    assert ledger.balance(db, me.member_id).available == 2000
    resp = client.post(url, headers=h)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "order_not_awaiting_payment"
    _, other = make_user("member")
    assert client.post(url, headers=other).status_code == 404
