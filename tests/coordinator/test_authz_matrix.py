"""The authorization matrix of the whole HTTP API: every route as anonymous, member A (the
owner of the objects), member B (another member) and an operator.

``ACCESS`` maps every (method, path) the application serves to who may call it; a route that
is added without an entry here fails :func:`test_every_route_has_a_matrix_entry`. The API
cases run against real objects of member A created through the services and the API (orders,
scripts, a reservation with items, chat messages, notifications, NG list entries, additions,
an import job); every answer B gets — lists included — is scanned for A's names and ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from coordinator.accounts import service as accounts_service
from coordinator.fleet.router import stream_sessions
from coordinator.prospects.router import get_import_runner
from coordinator.reservations.results import evidence_dir
from shared.models import Notification, SendItem
from tests.builders import (
    MemberEnv,
    force_outcomes,
    list_url,
    make_operator,
    make_prospects,
)

PASSWORD = "password-123"

# Who may call a route.
PUBLIC = "public"  # anyone, signed in or not
USER = "user"  # any signed-in user: a member only its own things, an operator everything
MEMBER = "member"  # members only (their own things); operators 403
OPERATOR = "operator"  # operators only; members 403
# HTML pages: anonymous callers are sent to /login instead of a 401.
WEB_PUBLIC = "web-public"
WEB_USER = "web-user"
WEB_MEMBER = "web-member"
WEB_OPERATOR = "web-operator"

ACCESS: dict[tuple[str, str], str] = {
    # FastAPI's own documents
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/favicon.ico"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,  # unless MIKOMI_METRICS_TOKEN is set (test_metrics.py)
    # accounts
    ("POST", "/api/v1/auth/token"): PUBLIC,
    ("POST", "/api/v1/auth/session"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): USER,
    ("GET", "/api/v1/me"): USER,
    # tickets
    ("POST", "/api/v1/orders"): MEMBER,
    ("GET", "/api/v1/orders"): USER,
    ("GET", "/api/v1/orders/{order_id}"): USER,
    ("POST", "/api/v1/orders/{order_id}/confirm-payment"): OPERATOR,
    ("POST", "/api/v1/orders/{order_id}/refund"): OPERATOR,
    ("POST", "/api/v1/orders/{order_id}/checkout"): MEMBER,
    ("GET", "/api/v1/orders/{order_id}/invoice.pdf"): USER,
    ("GET", "/api/v1/orders/{order_id}/receipt.pdf"): USER,
    # Stripe's webhook: anyone may call it; only a signed event does anything.
    ("POST", "/api/v1/payments/stripe/webhook"): PUBLIC,
    # scripts
    ("POST", "/api/v1/scripts"): MEMBER,
    ("GET", "/api/v1/scripts"): USER,
    ("GET", "/api/v1/scripts/{script_id}"): USER,
    ("PATCH", "/api/v1/scripts/{script_id}"): MEMBER,
    ("DELETE", "/api/v1/scripts/{script_id}"): MEMBER,
    ("GET", "/api/v1/scripts/{script_id}/preview"): USER,
    # prospects
    ("GET", "/api/v1/prospects"): USER,
    ("GET", "/api/v1/prospects.csv"): USER,
    ("POST", "/api/v1/prospects/import"): OPERATOR,
    ("GET", "/api/v1/prospects/imports"): OPERATOR,
    ("GET", "/api/v1/prospects/imports/{job_id}"): OPERATOR,
    # suppression
    ("GET", "/api/v1/suppressions"): OPERATOR,
    ("POST", "/api/v1/suppressions"): OPERATOR,
    ("DELETE", "/api/v1/suppressions/{entry_id}"): OPERATOR,
    ("GET", "/api/v1/ng-domains"): MEMBER,
    ("POST", "/api/v1/ng-domains"): MEMBER,
    ("DELETE", "/api/v1/ng-domains/{entry_id}"): MEMBER,
    ("GET", "/optout/{token}"): PUBLIC,
    ("POST", "/optout/{token}"): PUBLIC,
    ("GET", "/r/{token}"): PUBLIC,  # a tracked link of a message (docs/rules.md#click-counting)
    # reservations
    ("POST", "/api/v1/reservations"): MEMBER,
    ("GET", "/api/v1/reservations"): USER,
    ("GET", "/api/v1/reservations/live"): USER,
    ("GET", "/api/v1/reservations/{reservation_id}"): USER,
    # senders: operators; script_id: the owning member (another member's: 404)
    ("PATCH", "/api/v1/reservations/{reservation_id}"): USER,
    ("POST", "/api/v1/reservations/{reservation_id}/approve"): OPERATOR,
    ("POST", "/api/v1/reservations/{reservation_id}/pause"): USER,
    ("POST", "/api/v1/reservations/{reservation_id}/resume"): USER,
    ("POST", "/api/v1/reservations/{reservation_id}/cancel"): USER,
    ("POST", "/api/v1/reservations/{reservation_id}/transfers"): USER,
    ("POST", "/api/v1/reservations/{reservation_id}/additions"): MEMBER,
    ("GET", "/api/v1/additions"): OPERATOR,
    ("POST", "/api/v1/additions/{addition_id}/approve"): OPERATOR,
    ("POST", "/api/v1/additions/{addition_id}/reject"): OPERATOR,
    ("GET", "/api/v1/reservations/{reservation_id}/history"): USER,
    ("GET", "/api/v1/reservations/{reservation_id}/items"): USER,
    ("GET", "/api/v1/reservations/{reservation_id}/items.csv"): USER,
    ("GET", "/api/v1/reservations/{reservation_id}/items/{item_id}/evidence/{name}"): USER,
    # 反響: the mail received for the reservation's items (docs/rules.md#responses)
    ("GET", "/api/v1/reservations/{reservation_id}/responses"): USER,
    # chat
    ("GET", "/api/v1/reservations/{reservation_id}/messages"): USER,
    ("POST", "/api/v1/reservations/{reservation_id}/messages"): USER,
    # notifications
    ("GET", "/api/v1/notifications"): USER,
    ("POST", "/api/v1/notifications/{notification_id}/read"): USER,
    ("POST", "/api/v1/notifications/read-all"): USER,
    # fleet
    ("GET", "/api/v1/reservations/{reservation_id}/events"): USER,
    ("GET", "/api/v1/fleet"): OPERATOR,
    ("GET", "/api/v1/fleet/in-doubt"): OPERATOR,
    ("POST", "/api/v1/items/{item_id}/resolve"): OPERATOR,
    ("POST", "/api/v1/fleet/hosts/{host}/{action}"): OPERATOR,
    ("POST", "/api/v1/fleet/stop-all"): OPERATOR,
    # --- HTML pages (coordinator/web) ---
    ("GET", "/"): WEB_PUBLIC,
    ("GET", "/login"): WEB_PUBLIC,
    ("POST", "/login"): WEB_PUBLIC,
    ("POST", "/logout"): WEB_USER,
    ("GET", "/orders"): WEB_MEMBER,
    ("GET", "/orders/new"): WEB_MEMBER,
    ("POST", "/orders/new"): WEB_MEMBER,
    ("POST", "/orders/confirm"): WEB_MEMBER,
    ("POST", "/orders/{order_id}/checkout"): WEB_MEMBER,
    ("GET", "/scripts"): WEB_MEMBER,
    ("GET", "/scripts/new"): WEB_MEMBER,
    ("POST", "/scripts/new"): WEB_MEMBER,
    ("GET", "/scripts/{script_id}/edit"): WEB_MEMBER,
    ("POST", "/scripts/{script_id}/edit"): WEB_MEMBER,
    ("GET", "/scripts/{script_id}/preview"): WEB_MEMBER,
    ("GET", "/prospects"): WEB_MEMBER,
    ("POST", "/prospects/transfer"): WEB_MEMBER,
    ("GET", "/reservations/new"): WEB_MEMBER,
    ("POST", "/reservations/new"): WEB_MEMBER,
    ("GET", "/reservations"): WEB_MEMBER,
    ("POST", "/reservations/{reservation_id}/pause"): WEB_USER,
    ("POST", "/reservations/{reservation_id}/resume"): WEB_USER,
    ("POST", "/reservations/{reservation_id}/cancel"): WEB_USER,
    ("POST", "/reservations/{reservation_id}/additions"): WEB_MEMBER,
    ("POST", "/reservations/{reservation_id}/script"): WEB_MEMBER,
    ("POST", "/reservations/{reservation_id}/send-window"): WEB_MEMBER,
    ("GET", "/ng-domains"): WEB_MEMBER,
    ("POST", "/ng-domains"): WEB_MEMBER,
    ("POST", "/ng-domains/{entry_id}/delete"): WEB_MEMBER,
    ("POST", "/ng-domains/import"): WEB_MEMBER,
    ("GET", "/ng-domains.csv"): WEB_MEMBER,
    ("GET", "/reservations/{reservation_id}"): WEB_USER,
    ("GET", "/reservations/{reservation_id}/results.csv"): WEB_USER,
    ("GET", "/items/{item_id}"): WEB_USER,
    ("GET", "/items/{item_id}/evidence/{name}"): WEB_USER,
    ("GET", "/reservations/{reservation_id}/chat"): WEB_USER,
    ("POST", "/reservations/{reservation_id}/chat"): WEB_USER,
    ("GET", "/notifications"): WEB_USER,
    ("POST", "/notifications/read-all"): WEB_USER,
    ("GET", "/operator"): WEB_OPERATOR,
    ("GET", "/operator/reservations"): WEB_OPERATOR,
    ("GET", "/operator/reservations/{reservation_id}"): WEB_OPERATOR,
    ("POST", "/operator/reservations/{reservation_id}/approve"): WEB_OPERATOR,
    ("POST", "/operator/reservations/{reservation_id}/senders"): WEB_OPERATOR,
    ("POST", "/operator/additions/{addition_id}/approve"): WEB_OPERATOR,
    ("POST", "/operator/additions/{addition_id}/reject"): WEB_OPERATOR,
    ("GET", "/operator/chats"): WEB_OPERATOR,
    ("GET", "/operator/fleet"): WEB_OPERATOR,
    ("POST", "/operator/fleet/hosts/{host}/{action}"): WEB_OPERATOR,
    ("POST", "/operator/fleet/stop-all"): WEB_OPERATOR,
    ("GET", "/operator/in-doubt"): WEB_OPERATOR,
    ("POST", "/operator/in-doubt/{item_id}"): WEB_OPERATOR,
    ("GET", "/operator/suppression"): WEB_OPERATOR,
    ("POST", "/operator/suppression"): WEB_OPERATOR,
    ("POST", "/operator/suppression/delete"): WEB_OPERATOR,
    ("GET", "/operator/prospects/import"): WEB_OPERATOR,
    ("POST", "/operator/prospects/import"): WEB_OPERATOR,
    ("GET", "/operator/prospects/import/{job_id}.json"): WEB_OPERATOR,
    ("GET", "/operator/orders"): WEB_OPERATOR,
    ("POST", "/operator/orders/{order_id}/confirm-payment"): WEB_OPERATOR,
    ("POST", "/operator/orders/{order_id}/refund"): WEB_OPERATOR,
}
WEB_KINDS = (WEB_PUBLIC, WEB_USER, WEB_MEMBER, WEB_OPERATOR)


def served_routes(app: Any) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, through included routers, minus static files."""

    def walk(routes: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
        for route in routes:
            original = getattr(route, "original_router", None)
            if original is not None:  # FastAPI ≥ 0.16x keeps included routers as branches
                inner = getattr(getattr(route, "include_context", None), "prefix", "") or ""
                yield from walk(original.routes, prefix + inner)
            else:
                yield prefix, route

    found: set[tuple[str, str]] = set()
    for prefix, route in walk(app.routes):
        methods = getattr(route, "methods", None)
        if not methods:  # the /static mount
            continue
        for method in methods - {"HEAD", "OPTIONS"}:
            found.add((method, prefix + route.path))
    return found


def test_every_route_has_a_matrix_entry(app, client) -> None:  # type: ignore[no-untyped-def]
    served = served_routes(app)
    assert served - ACCESS.keys() == set(), "routes without an authorization matrix entry"
    assert ACCESS.keys() - served == set(), "matrix entries for routes that no longer exist"
    # The OpenAPI document lists nothing the matrix does not know either.
    document = client.get("/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert documented <= ACCESS.keys()
    assert len(documented) >= 50


# --- the API matrix ---------------------------------------------------------------------------


@dataclass
class Case:
    method: str
    path: str  # the template of ACCESS
    values: dict[str, Any] = field(default_factory=dict)  # path parameters
    body: Any = None
    params: dict[str, Any] | None = None
    # The answer of each caller allowed by ACCESS (roles not named here are not called as
    # allowed; the refused ones — anonymous, B on A's object, the wrong role — always are).
    ok: dict[str, int | tuple[int, ...]] = field(default_factory=dict)
    own_object: bool = True  # the path names one of A's objects (B must get 404)
    anonymous: int | tuple[int, ...] = 401

    def url(self) -> str:
        return self.path.format(**self.values)


@dataclass
class World:
    a: MemberEnv
    b: MemberEnv
    op: dict[str, str]
    op_user: Any
    markers: list[str]  # strings that only A's objects contain
    a_ids: dict[str, set[int]] = field(default_factory=dict)


def _error_body(resp: Any) -> None:
    body = resp.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] and body["error"]["message"], body
    assert any(ord(ch) > 0x3000 for ch in body["error"]["message"]), body  # Japanese


def _run(client: Any, world: World, case: Case) -> None:
    kind = ACCESS[(case.method, case.path)]
    url = case.url()
    headers = {"A": world.a.headers, "B": world.b.headers, "op": world.op}

    def call(who: str | None) -> Any:
        return client.request(
            case.method,
            url,
            json=case.body,
            params=case.params,
            headers=headers[who] if who else None,
        )

    def expect(resp: Any, wanted: int | tuple[int, ...], who: str) -> None:
        allowed = wanted if isinstance(wanted, tuple) else (wanted,)
        assert resp.status_code in allowed, (case.method, url, who, resp.status_code, resp.text)
        if resp.status_code in (401, 403, 404) and resp.headers.get("content-type", "").startswith(
            "application/json"
        ):
            _error_body(resp)

    client.cookies.clear()
    expect(call(None), case.anonymous, "anonymous")
    # B first: whatever B does must neither succeed on A's object nor reveal it.
    if kind in (USER, MEMBER) and case.own_object:
        resp = call("B")
        expect(resp, 404, "B")
        _scan(world, resp)
        # … and exactly the answer about an object that does not exist at all.
        if resp.headers.get("content-type", "").startswith("application/json"):
            missing = {
                k: 2_000_000_000 if isinstance(v, int) else v for k, v in case.values.items()
            }
            ghost = client.request(
                case.method,
                case.path.format(**missing),
                json=case.body,
                params=case.params,
                headers=headers["B"],
            )
            assert (ghost.status_code, ghost.json()) == (404, resp.json()), (url, ghost.text)
    elif kind == OPERATOR:
        expect(call("B"), 403, "B")
        expect(call("A"), 403, "A")
    if kind == MEMBER:
        expect(call("op"), 403, "op")
    for who in ("A", "B", "op"):
        if who in case.ok:
            resp = call(who)
            expect(resp, case.ok[who], who)
            if who == "B":
                _scan(world, resp)


def _scan(world: World, resp: Any) -> None:
    """Nothing of A's in an answer to B: no marker string, no id of A's objects."""
    text = resp.text
    for marker in world.markers:
        assert marker not in text, (resp.request.url, marker)
    if not resp.headers.get("content-type", "").startswith("application/json"):
        return
    for key, ids in world.a_ids.items():
        for found in _ids_under(resp.json(), key):
            assert found not in ids, (resp.request.url, key, found)


def _ids_under(data: Any, key: str) -> Iterator[int]:
    """The ``id`` of every object in the list ``data[key]`` (searched at any depth)."""
    if isinstance(data, dict):
        for k, v in data.items():
            if k == key and isinstance(v, list):
                for entry in v:
                    if isinstance(entry, dict) and isinstance(entry.get("id"), int):
                        yield entry["id"]
            else:
                yield from _ids_under(v, key)
    elif isinstance(data, list):
        for v in data:
            yield from _ids_under(v, key)


@pytest.fixture
def world(app, db, make_user) -> World:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:8]
    a = MemberEnv(db, make_user, tickets=3_000, prospects=900)
    b = MemberEnv(db, make_user, tickets=3_000, prospects=0)
    op_user, op = make_operator(db, make_user)

    @contextmanager
    def same_session() -> Iterator[Any]:
        yield db

    app.dependency_overrides[stream_sessions] = lambda: same_session
    app.dependency_overrides[get_import_runner] = lambda: (
        lambda path, job_id: path.unlink(missing_ok=True)
    )
    markers = [f"甲社{tag}", f"甲スクリプト{tag}", f"甲メッセージ{tag}", f"ng-{tag}-a.example.jp"]
    return World(a=a, b=b, op=op, op_user=op_user, markers=markers)


def test_api_authorization_matrix(client, db, world: World) -> None:  # type: ignore[no-untyped-def]
    a, b, op = world.a, world.b, world.op
    company, script_name, message, ng_domain = world.markers
    done: set[tuple[str, str]] = set()

    def run(case: Case) -> None:
        _run(client, world, case)
        done.add((case.method, case.path))

    # --- public ---
    run(Case("GET", "/openapi.json", ok={"A": 200, "B": 200, "op": 200}, anonymous=200))
    for path in ("/docs", "/docs/oauth2-redirect", "/redoc"):
        run(Case("GET", path, ok={"A": 200, "op": 200}, anonymous=200))
    # The health check reports the configured services (503 when one is away), never 401.
    run(Case("GET", "/healthz", ok={"A": (200, 503), "op": (200, 503)}, anonymous=(200, 503)))
    run(Case("GET", "/metrics", ok={"A": 200, "op": 200}, anonymous=200))
    run(Case("GET", "/favicon.ico", ok={"A": 200, "op": 200}, anonymous=200))
    login = {"email": a.user.email, "password": PASSWORD}
    run(Case("POST", "/api/v1/auth/token", body=login, ok={"B": 200}, anonymous=200))
    run(Case("POST", "/api/v1/auth/session", body=login, anonymous=200))
    client.cookies.clear()
    assert client.get("/api/v1/me").status_code == 401  # the session cookie is gone again
    run(Case("GET", "/api/v1/me", ok={"A": 200, "B": 200, "op": 200}, own_object=False))
    me_b = client.get("/api/v1/me", headers=b.headers).json()
    assert me_b["member_id"] == b.member_id != a.member_id

    # --- tickets ---
    order_body = {
        "quantity": 1000,
        "company_name": company,
        "contact_name": "甲担当",
        "payment_method": "bank_transfer",
    }
    resp = client.post("/api/v1/orders", json=order_body, headers=a.headers)
    assert resp.status_code == 201, resp.text
    order_id = resp.json()["id"]
    b_order = {**order_body, "company_name": "乙社"}
    run(Case("POST", "/api/v1/orders", body=b_order, ok={"B": 201}, own_object=False))
    world.a_ids["orders"] = {order_id}
    run(
        Case(
            "GET",
            "/api/v1/orders",
            ok={"A": 200, "B": 200, "op": 200},
            own_object=False,
            params={"member_id": a.member_id},  # a member's member_id is ignored, not obeyed
        )
    )
    o = {"order_id": order_id}
    run(Case("GET", "/api/v1/orders/{order_id}", o, ok={"A": 200, "op": 200}))
    run(Case("POST", "/api/v1/orders/{order_id}/confirm-payment", o, ok={"op": 200}))
    run(Case("GET", "/api/v1/orders/{order_id}/invoice.pdf", o, ok={"A": 200, "op": 200}))
    run(Case("GET", "/api/v1/orders/{order_id}/receipt.pdf", o, ok={"A": 200, "op": 200}))
    # A bank transfer is not refunded through the card gateway: refused, but only for who may ask.
    run(Case("POST", "/api/v1/orders/{order_id}/refund", o, ok={"op": 409}))
    run(Case("POST", "/api/v1/orders/{order_id}/checkout", o, ok={"A": 409}))  # not Stripe
    unsigned = {"id": "evt_x", "type": "checkout.session.completed"}
    run(
        Case(
            "POST",
            "/api/v1/payments/stripe/webhook",
            body=unsigned,
            ok={"A": 400, "B": 400, "op": 400},
            anonymous=400,
            own_object=False,
        )
    )

    # --- scripts ---
    script_body = {
        "name": script_name,
        "sender": {
            "company": company,
            "last_name": "山田",
            "first_name": "太郎",
            "email": "taro@example.co.jp",
            "phone": "03-1234-5678",
        },
        "subject": "ご提案",
        "body": "{{company}} ご担当者様",
    }
    resp = client.post("/api/v1/scripts", json=script_body, headers=a.headers)
    assert resp.status_code == 201, resp.text
    spare_script = resp.json()["id"]
    b_script = {**script_body, "name": "乙スクリプト", "sender": {**script_body["sender"]}}
    b_script["sender"]["company"] = "乙社"
    run(Case("POST", "/api/v1/scripts", body=b_script, ok={"B": 201}, own_object=False))
    world.a_ids["scripts"] = {spare_script, a.script.id}
    run(
        Case(
            "GET",
            "/api/v1/scripts",
            ok={"A": 200, "B": 200, "op": 200},
            own_object=False,
            params={"member_id": a.member_id},
        )
    )
    s = {"script_id": spare_script}
    run(Case("GET", "/api/v1/scripts/{script_id}", s, ok={"A": 200, "op": 200}))
    run(Case("GET", "/api/v1/scripts/{script_id}/preview", s, ok={"A": 200, "op": 200}))
    run(Case("PATCH", "/api/v1/scripts/{script_id}", s, body={"subject": "件名"}, ok={"A": 200}))

    # --- prospects (shared by all members; import for operators) ---
    for path in ("/api/v1/prospects", "/api/v1/prospects.csv"):
        run(
            Case(
                "GET",
                path,
                params={"industry": a.industry},
                ok={"A": 200, "B": 200, "op": 200},
                own_object=False,
            )
        )
    csv = "company,url,industry,prefecture\n株式会社インポート,https://import.example.jp/,建設業,東京都\n"
    resp = client.post(
        "/api/v1/prospects/import",
        params={"filename": "list.csv"},
        content=csv.encode(),
        headers={**op, "Content-Type": "text/csv"},
    )
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]
    for who, wanted in ((None, 401), (a.headers, 403), (b.headers, 403)):
        refused = client.post(
            "/api/v1/prospects/import",
            params={"filename": "list.csv"},
            content=csv.encode(),
            headers={**(who or {}), "Content-Type": "text/csv"},
        )
        assert refused.status_code == wanted, refused.text
        _error_body(refused)
    done.add(("POST", "/api/v1/prospects/import"))
    run(Case("GET", "/api/v1/prospects/imports", ok={"op": 200}, own_object=False))
    run(Case("GET", "/api/v1/prospects/imports/{job_id}", {"job_id": job_id}, ok={"op": 200}))

    # --- suppression ---
    resp = client.post("/api/v1/ng-domains", json={"domain": ng_domain}, headers=a.headers)
    assert resp.status_code == 201, resp.text
    ng_id = resp.json()["id"]
    world.a_ids["items"] = {ng_id}
    run(
        Case(
            "POST",
            "/api/v1/ng-domains",
            body={"domain": "otsu.example.jp"},
            ok={"B": 201},
            own_object=False,
        )
    )
    run(Case("GET", "/api/v1/ng-domains", ok={"A": 200, "B": 200}, own_object=False))
    assert ng_domain in client.get("/api/v1/ng-domains", headers=a.headers).text
    global_body = {"domain": f"global-{uuid.uuid4().hex[:8]}.example.jp"}
    run(Case("POST", "/api/v1/suppressions", body=global_body, ok={"op": 201}, own_object=False))
    run(Case("GET", "/api/v1/suppressions", ok={"op": 200}, own_object=False))
    entry_id = client.get(
        "/api/v1/suppressions", params={"domain": global_body["domain"]}, headers=op
    ).json()["items"][0]["id"]
    run(Case("DELETE", "/api/v1/suppressions/{entry_id}", {"entry_id": entry_id}, ok={"op": 204}))

    # --- reservations ---
    res_body = a.body(300)
    run(
        Case(
            "POST",
            "/api/v1/reservations",
            body={**a.body(300), "list_url": b.list_url},  # B cannot use A's script
            ok={"B": 400},
            own_object=False,
        )
    )
    # … and is told exactly what it is told of a script that does not exist.
    with_a_script = client.post(
        "/api/v1/reservations", json={**a.body(300), "list_url": b.list_url}, headers=b.headers
    ).json()
    no_script = client.post(
        "/api/v1/reservations",
        json={**a.body(300), "list_url": b.list_url, "script_id": 2_000_000_000},
        headers=b.headers,
    ).json()
    assert with_a_script == no_script
    assert with_a_script["error"]["code"] == "script_not_found"
    resp = client.post("/api/v1/reservations", json=res_body, headers=a.headers)
    assert resp.status_code == 201, resp.text
    rid = resp.json()["id"]
    world.a_ids["reservations"] = {rid}
    r = {"reservation_id": rid}
    item_ids = list(db.scalars(select(SendItem.id).where(SendItem.reservation_id == rid)))
    assert len(item_ids) >= 300
    world.a_ids["items"] |= set(item_ids)
    run(Case("GET", "/api/v1/reservations", ok={"A": 200, "B": 200, "op": 200}, own_object=False))
    for path in (
        "/api/v1/reservations/{reservation_id}",
        "/api/v1/reservations/{reservation_id}/history",
        "/api/v1/reservations/{reservation_id}/items",
        "/api/v1/reservations/{reservation_id}/items.csv",
        "/api/v1/reservations/{reservation_id}/responses",
    ):
        run(Case("GET", path, r, ok={"A": 200, "op": 200}))
    run(
        Case(
            "GET",
            "/api/v1/reservations/{reservation_id}/events",
            r,
            params={"max_seconds": 0.1},
            ok={"A": 200, "op": 200},
        )
    )
    # The chat thread: both sides write, B can neither read nor write.
    msg = {"body": message}
    run(Case("POST", "/api/v1/reservations/{reservation_id}/messages", r, msg, ok={"A": 201}))
    run(
        Case(
            "POST",
            "/api/v1/reservations/{reservation_id}/messages",
            r,
            {"body": "運営からの返信"},
            ok={"op": 201},
        )
    )
    run(Case("GET", "/api/v1/reservations/{reservation_id}/messages", r, ok={"A": 200, "op": 200}))
    # An addition (予約数を追加) while the reservation waits for approval.
    run(
        Case(
            "POST",
            "/api/v1/reservations/{reservation_id}/additions",
            r,
            {"count": 100},
            ok={"A": 201},
        )
    )
    run(Case("GET", "/api/v1/additions", ok={"op": 200}, own_object=False))
    additions = client.get("/api/v1/additions", headers=op).json()
    add_id = next(x["id"] for x in additions if x["reservation_id"] == rid)
    run(Case("POST", "/api/v1/reservations/{reservation_id}/approve", r, ok={"op": 200}))
    run(
        Case(
            "POST",
            "/api/v1/additions/{addition_id}/approve",
            {"addition_id": add_id},
            ok={"op": 200},
        )
    )
    resp = client.post(
        f"/api/v1/reservations/{rid}/additions", json={"count": 100}, headers=a.headers
    )
    assert resp.status_code == 201, resp.text
    run(
        Case(
            "POST",
            "/api/v1/additions/{addition_id}/reject",
            {"addition_id": resp.json()["id"]},
            ok={"op": 200},
        )
    )
    run(Case("PATCH", "/api/v1/reservations/{reservation_id}", r, {"senders": 1}, ok={"op": 200}))
    live = {"ids": [rid]}
    run(
        Case(
            "GET",
            "/api/v1/reservations/live",
            ok={"A": 200, "B": 200, "op": 200},
            own_object=False,
            params=live,
        )
    )
    same_script = {"script_id": a.script.id}
    run(Case("PATCH", "/api/v1/reservations/{reservation_id}", r, same_script, ok={"A": 200}))
    for who_pauses, who_resumes in (("A", "op"), ("op", "A")):
        run(
            Case("POST", "/api/v1/reservations/{reservation_id}/pause", r, {}, ok={who_pauses: 200})
        )
        run(Case("POST", "/api/v1/reservations/{reservation_id}/resume", r, ok={who_resumes: 200}))
    extra_list = list_url(make_prospects(db, 40))
    transfer = {"list_url": extra_list, "count": 10, "script_id": a.script.id}
    run(
        Case(
            "POST",
            "/api/v1/reservations/{reservation_id}/transfers",
            r,
            transfer,
            ok={"A": (200, 201), "op": (200, 201)},
        )
    )
    # An in-doubt send resolved by an operator; a screenshot of a send.
    assert force_outcomes(db, rid, 1, "in_doubt") == 1
    doubt = db.scalar(
        select(SendItem.id).where(SendItem.reservation_id == rid, SendItem.state == "in_doubt")
    )
    assert doubt is not None
    run(Case("GET", "/api/v1/fleet", ok={"op": 200}, own_object=False))
    run(Case("GET", "/api/v1/fleet/in-doubt", ok={"op": 200}, own_object=False))
    host = {"host": "matrix-host", "action": "resume"}
    run(Case("POST", "/api/v1/fleet/hosts/{host}/{action}", host, ok={"op": 204}, own_object=False))
    run(
        Case(
            "POST",
            "/api/v1/items/{item_id}/resolve",
            {"item_id": doubt},
            {"status": "sent"},
            ok={"op": 200},
        )
    )
    shot = f"shot-{uuid.uuid4().hex[:8]}.png"
    folder = evidence_dir(rid, doubt)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / shot).write_bytes(b"\x89PNG\r\n\x1a\n")
    try:
        run(
            Case(
                "GET",
                "/api/v1/reservations/{reservation_id}/items/{item_id}/evidence/{name}",
                {"reservation_id": rid, "item_id": doubt, "name": shot},
                ok={"A": 200, "op": 200},
            )
        )
    finally:
        (folder / shot).unlink(missing_ok=True)
        _remove_empty(folder)

    # --- notifications (the approval told A) ---
    note_id = db.scalar(
        select(Notification.id)
        .where(Notification.member_id == a.member_id)
        .order_by(Notification.id)
        .limit(1)
    )
    assert note_id is not None
    world.a_ids["notifications"] = set(
        db.scalars(select(Notification.id).where(Notification.member_id == a.member_id))
    )
    run(
        Case(
            "GET",
            "/api/v1/notifications",
            ok={"A": 200, "B": 200, "op": 200},
            own_object=False,
            params={"member_id": a.member_id},
        )
    )
    n = {"notification_id": note_id}
    run(Case("POST", "/api/v1/notifications/{notification_id}/read", n, ok={"A": 200, "op": 200}))
    run(
        Case(
            "POST",
            "/api/v1/notifications/read-all",
            ok={"A": 200, "B": 200, "op": 200},
            own_object=False,
        )
    )
    assert db.scalar(select(Notification.read_at).where(Notification.id == note_id)) is not None

    # --- the end of things: cancel, deletions, the opt-out link, logout ---
    run(Case("POST", "/api/v1/reservations/{reservation_id}/cancel", r, ok={"A": 200}))
    run(Case("DELETE", "/api/v1/scripts/{script_id}", s, ok={"A": 204}))
    run(Case("DELETE", "/api/v1/ng-domains/{entry_id}", {"entry_id": ng_id}, ok={"A": 204}))
    token = db.scalar(select(SendItem.optout_token).where(SendItem.id == item_ids[-1]))
    bad = {"token": "x" * 32}
    for method in ("GET", "POST"):
        run(Case(method, "/optout/{token}", bad, ok={"A": 404, "op": 404}, anonymous=404))
    run(Case("GET", "/optout/{token}", {"token": token}, anonymous=200))
    run(Case("POST", "/optout/{token}", {"token": token}, anonymous=200))
    # Tracked links: public; a token no message carries is a 404 for everyone.
    run(Case("GET", "/r/{token}", bad, ok={"A": 404, "op": 404}, anonymous=404))
    for user in (a.user, b.user, world.op_user):
        spare, _ = accounts_service.issue_token(db, user, "api")
        resp = client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {spare}"})
        assert resp.status_code == 204, resp.text
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {spare}"}).status_code
            == 401
        )
    assert client.post("/api/v1/auth/logout").status_code == 401
    done.add(("POST", "/api/v1/auth/logout"))
    # The matrix ran every API route.
    api_routes = {key for key, kind in ACCESS.items() if kind not in WEB_KINDS}
    # 全停止 last: it pauses every approved reservation, A's among them.
    run(Case("POST", "/api/v1/fleet/stop-all", ok={"op": 200}, own_object=False))
    assert api_routes - done == set()


def _remove_empty(folder: Path) -> None:
    for path in (folder, folder.parent):
        try:
            path.rmdir()
        except OSError:
            return


# --- the HTML pages ---------------------------------------------------------------------------


def _browser(app: Any, user: Any) -> tuple[Any, str]:
    """A TestClient of its own, logged in through the login form; returns it and its CSRF."""
    from fastapi.testclient import TestClient

    from tests.support.web import csrf_of

    browser = TestClient(app)
    resp = browser.post(
        "/login", data={"email": user.email, "password": PASSWORD}, follow_redirects=False
    )
    assert resp.status_code == 303, resp.text
    return browser, csrf_of(browser.get(resp.headers["location"]).text)


def test_web_authorization_matrix(app, client, db, world: World) -> None:  # type: ignore[no-untyped-def]
    a, b, op = world.a, world.b, world.op
    resp = client.post("/api/v1/reservations", json=a.body(300), headers=a.headers)
    assert resp.status_code == 201, resp.text
    rid = resp.json()["id"]
    resp = client.post(
        f"/api/v1/reservations/{rid}/additions", json={"count": 100}, headers=a.headers
    )
    assert resp.status_code == 201, resp.text
    add_id = resp.json()["id"]
    order = client.post(
        "/api/v1/orders",
        json={
            "quantity": 1000,
            "company_name": world.markers[0],
            "contact_name": "甲担当",
            "payment_method": "bank_transfer",
        },
        headers=a.headers,
    )
    assert order.status_code == 201, order.text
    item_id = db.scalar(select(SendItem.id).where(SendItem.reservation_id == rid).limit(1))
    assert item_id is not None
    job = client.post(
        "/api/v1/prospects/import",
        params={"filename": "list.csv"},
        content="company,url\n株式会社インポート,https://import.example.jp/\n".encode(),
        headers={**op, "Content-Type": "text/csv"},
    )
    assert job.status_code == 202, job.text
    shot = f"shot-{uuid.uuid4().hex[:8]}.png"
    folder = evidence_dir(rid, item_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / shot).write_bytes(b"\x89PNG\r\n\x1a\n")
    ng = client.post("/api/v1/ng-domains", json={"domain": "ng-web.example.jp"}, headers=a.headers)
    assert ng.status_code == 201, ng.text
    values = {
        "entry_id": ng.json()["id"],
        "reservation_id": rid,
        "script_id": a.script.id,
        "item_id": item_id,
        "addition_id": add_id,
        "order_id": order.json()["id"],
        "job_id": job.json()["id"],
        "name": shot,
        "host": "matrix-host",
        "action": "resume",
    }
    browsers = {
        "A": _browser(app, a.user),
        "B": _browser(app, b.user),
        "op": _browser(app, world.op_user),
    }
    last = ("/cancel", "/stop-all", "/logout")  # these end what the other routes still need

    def order_of(key: tuple[str, str]) -> tuple[bool, bool, bool, str]:
        return key[0] == "POST", key[1].endswith(last), key[1] == "/logout", key[1]

    try:
        for method, path in sorted((k for k, v in ACCESS.items() if v in WEB_KINDS), key=order_of):
            _web_row(client, browsers, world, method, path, values)
    finally:
        (folder / shot).unlink(missing_ok=True)
        _remove_empty(folder)
        for browser, _ in browsers.values():
            browser.close()


# Plausible form fields, so a refusal is about who asks, not about a missing field.
_FORMS: dict[str, dict[str, str]] = {
    "/reservations/{reservation_id}/additions": {"count": "100"},
    "/reservations/{reservation_id}/script": {"script_id": "{script_id}"},
    "/ng-domains": {"domain": "ng-form.example.jp"},
    "/reservations/{reservation_id}/chat": {"body": "よろしくお願いします"},
    "/prospects/transfer": {
        "reservation_id": "{reservation_id}",
        "count": "10",
        "list_url": "industry=none",
        "script_id": "{script_id}",
    },
    "/operator/reservations/{reservation_id}/senders": {"senders": "1"},
    "/operator/in-doubt/{item_id}": {"status": "failed"},
}


def _web_row(  # type: ignore[no-untyped-def]
    client, browsers, world: World, method: str, path: str, values: dict[str, Any]
) -> None:
    kind = ACCESS[(method, path)]
    url = path.format(**values)
    mine = "{" in path  # the path names one of A's objects

    def to_login(resp: Any) -> bool:
        return resp.status_code == 303 and resp.headers["location"].startswith("/login")

    client.cookies.clear()
    anon = client.request(method, url, follow_redirects=False)
    if (method, path) == ("GET", "/login"):
        assert anon.status_code == 200
    elif (method, path) == ("POST", "/login"):
        assert anon.status_code == 401 and "mikomi_session" not in anon.headers.get(
            "set-cookie", ""
        )
    else:
        assert to_login(anon), (method, url, anon.status_code)
        if method == "GET" and path != "/":
            assert anon.headers["location"] == "/login?next=" + url
    if kind == WEB_PUBLIC:
        return
    for who, (browser, csrf) in browsers.items():
        data = {"csrf_token": csrf, **_FORMS.get(path, {})} if method == "POST" else None
        data = {k: str(v).format(**values) for k, v in (data or {}).items()} or None
        resp = browser.request(method, url, data=data, follow_redirects=False)
        refused = (kind == WEB_OPERATOR and who != "op") or (kind == WEB_MEMBER and who == "op")
        if refused:
            assert resp.status_code == 403, (method, url, who, resp.status_code)
        elif who == "B" and mine:
            assert resp.status_code == 404, (method, url, who, resp.status_code)
        elif method == "GET":
            assert resp.status_code == 200, (method, url, who, resp.status_code)
        else:  # a form post with no fields: done, or refused with a message — never 401/403/404
            assert resp.status_code < 500 and resp.status_code not in (401, 403, 404), (
                method,
                url,
                who,
                resp.status_code,
            )
            assert not to_login(resp) or path == "/logout", (method, url, who)
        if who == "B":
            for marker in world.markers:
                assert marker not in resp.text, (method, url, marker)
