"""Bad input on every JSON write endpoint: malformed JSON, non-UTF-8 bytes, bodies that are not
objects, missing fields, wrong types, zero/negative/huge numbers, unknown fields, oversized
bodies — and huge ids in paths and queries. Each answer is a clear 4xx with a Japanese
``{"error": {"code", "message"}}`` and no table gains or loses a row.

CSV import input is covered by tests/coordinator/prospects/test_import.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import Base, SendItem
from tests.builders import (
    MemberEnv,
    force_outcomes,
    make_operator,
)

HUGE = (2**31, 2**63, 10**30, -(2**63))


@dataclass
class Endpoint:
    method: str
    path: str
    who: str  # "member" or "operator"
    valid: dict[str, Any]  # a body that would be accepted
    required: bool = True  # is the body required
    forbids_unknown: bool = False
    legal: tuple[tuple[str, Any], ...] = ()  # (field, value) pairs that look odd but are rules


def endpoints(rid: int, order_id: int, script_id: int, item_id: int) -> list[Endpoint]:
    sender = {"company": "株式会社サンプル", "last_name": "山田", "first_name": "太郎",
              "email": "taro@example.co.jp", "phone": "03-1234-5678"}  # fmt: skip
    login = {"email": "nobody@example.test", "password": "password-123"}
    return [
        Endpoint("POST", "/api/v1/auth/token", "anonymous", login),
        Endpoint("POST", "/api/v1/auth/session", "anonymous", login),
        Endpoint(
            "POST",
            "/api/v1/orders",
            "member",
            {
                "quantity": 1000,
                "company_name": "A社",
                "contact_name": "山田",
                "payment_method": "bank_transfer",
            },  # fmt: skip
        ),
        Endpoint(
            "POST",
            f"/api/v1/orders/{order_id}/confirm-payment",
            "operator",
            {"paid_on": "2026-01-05"},
            required=False,
        ),
        Endpoint(
            "POST",
            "/api/v1/scripts",
            "member",
            {"name": "台本", "sender": sender, "subject": "件名", "body": "{{company}} 様"},
            forbids_unknown=True,
        ),
        Endpoint(
            "PATCH",
            f"/api/v1/scripts/{script_id}",
            "member",
            {"name": "台本"},
            required=False,  # every field optional: {} changes nothing
            forbids_unknown=True,
        ),  # fmt: skip
        Endpoint("POST", "/api/v1/suppressions", "operator", {"domain": "x.example.jp"}),
        Endpoint("POST", "/api/v1/ng-domains", "member", {"domain": "y.example.jp"}),
        Endpoint(
            "POST",
            "/api/v1/reservations",
            "member",
            {
                "count": 300,
                "senders": 1,
                "list_url": "/prospects?industry=x",
                "script_id": script_id,
            },  # fmt: skip
        ),
        Endpoint(  # 0 senders is an operator's hold (reservations.service.set_senders)
            "PATCH",
            f"/api/v1/reservations/{rid}",
            "operator",
            {"senders": 1},
            legal=(("senders", 0),),
        ),  # fmt: skip
        Endpoint(
            "POST",
            f"/api/v1/reservations/{rid}/pause",
            "member",
            {"remove_list": False},
            required=False,
        ),  # fmt: skip
        Endpoint(
            "POST",
            f"/api/v1/reservations/{rid}/transfers",
            "member",
            {"list_url": "/prospects?industry=x", "count": 10, "script_id": script_id},
        ),
        Endpoint("POST", f"/api/v1/reservations/{rid}/additions", "member", {"count": 100}),
        Endpoint("POST", f"/api/v1/reservations/{rid}/messages", "member", {"body": "こんにちは"}),
        Endpoint("POST", f"/api/v1/items/{item_id}/resolve", "operator", {"status": "sent"}),
    ]


def row_counts(db: Session) -> dict[str, int]:
    db.flush()
    return {
        t.name: int(db.scalar(select(func.count()).select_from(t)) or 0)
        for t in Base.metadata.sorted_tables
    }


def bad_bodies(ep: Endpoint) -> list[tuple[str, bytes | Any]]:
    """(label, raw bytes or a JSON value) of what must be refused."""
    cases: list[tuple[str, bytes | Any]] = [
        ("malformed", b'{"a": '),
        ("not json", b"not json at all"),
        ("non-utf8", b"\xff\xfe{\x00}"),
        ("cp932 json", '{"name": "山田", "body": "株式会社"}'.encode("cp932")),
        ("list", []),
        ("string", "text"),
        ("number", 123),
    ]
    if ep.required:
        cases.append(("empty object", {}))
        cases.append(("null", None))
        for key in ep.valid:
            cases.append((f"missing {key}", {k: v for k, v in ep.valid.items() if k != key}))
    for key, value in ep.valid.items():
        if isinstance(value, bool):
            wrong: list[Any] = ["yes", 1, [], {}]
        elif isinstance(value, int):
            wrong = ["abc", "100", 1.5, True, [], {}, None, 0, -1, *HUGE]
        elif isinstance(value, str):
            wrong = [123, [], {}, True]
        else:
            wrong = ["x", [], 5]
        for w in wrong:
            if (key, w) in ep.legal and not isinstance(w, bool):
                continue
            cases.append((f"{key}={w!r}", {**ep.valid, key: w}))
    if ep.forbids_unknown:
        cases.append(("unknown field", {**ep.valid, "admin": True}))
    return cases


def assert_clear_4xx(resp: Any, what: str) -> None:
    assert 400 <= resp.status_code < 500 and resp.status_code not in (401, 403), (
        what,
        resp.status_code,
        resp.text[:300],
    )
    body = resp.json()
    assert set(body) == {"error"}, (what, body)
    error = body["error"]
    assert error["code"] and isinstance(error["code"], str), (what, body)
    assert any(ord(ch) > 0x3000 for ch in error["message"]), (what, body)  # Japanese


@pytest.fixture
def setup(app, db, make_user):  # type: ignore[no-untyped-def]
    a = MemberEnv(db, make_user, tickets=3_000, prospects=700)
    _, op = make_operator(db, make_user)
    client = TestClient(app, raise_server_exceptions=False)
    resp = client.post("/api/v1/reservations", json=a.body(300), headers=a.headers)
    assert resp.status_code == 201, resp.text
    rid = resp.json()["id"]
    order = client.post(
        "/api/v1/orders",
        json={
            "quantity": 1000,
            "company_name": "A社",
            "contact_name": "山田",
            "payment_method": "bank_transfer",
        },  # fmt: skip
        headers=a.headers,
    )
    assert order.status_code == 201, order.text
    force_outcomes(db, rid, 1, "in_doubt")
    item_id = db.scalar(
        select(SendItem.id).where(SendItem.reservation_id == rid, SendItem.state == "in_doubt")
    )
    db.commit()
    headers = {"member": a.headers, "operator": op, "anonymous": {}}
    eps = endpoints(rid, order.json()["id"], a.script.id, int(item_id or 0))
    return client, headers, eps


def test_every_json_write_endpoint_is_covered(app, setup) -> None:  # type: ignore[no-untyped-def]
    _, _, eps = setup
    document = app.openapi()
    writes = {
        (m.upper(), p)
        for p, ops in document["paths"].items()
        for m, op in ops.items()
        if "application/json" in op.get("requestBody", {}).get("content", {})
    }
    covered = set()
    for ep in eps:
        for method, template in writes:
            parts, given = template.split("/"), ep.path.split("/")
            if (
                method == ep.method
                and len(parts) == len(given)
                and all(p == g or p.startswith("{") for p, g in zip(parts, given, strict=True))
            ):
                covered.add((method, template))
    assert writes - covered == set()


def test_bad_bodies_are_refused_and_write_nothing(db, setup) -> None:  # type: ignore[no-untyped-def]
    client, headers, eps = setup
    before = row_counts(db)
    for ep in eps:
        for label, body in bad_bodies(ep):
            what = f"{ep.method} {ep.path} {label}"
            h = {**headers[ep.who], "Content-Type": "application/json"}
            if isinstance(body, bytes):
                resp = client.request(ep.method, ep.path, content=body, headers=h)
            else:
                resp = client.request(ep.method, ep.path, json=body, headers=h)
            assert_clear_4xx(resp, what)
    assert row_counts(db) == before


def test_oversized_bodies_are_refused(db, setup) -> None:  # type: ignore[no-untyped-def]
    client, headers, eps = setup
    before = row_counts(db)
    for ep in eps:
        key = next((k for k, v in ep.valid.items() if isinstance(v, str)), "padding")
        body = {**ep.valid, key: "あ" * 400_000}  # > 1 MB of UTF-8
        resp = client.request(ep.method, ep.path, json=body, headers=headers[ep.who])
        assert resp.status_code == 413, (ep.path, resp.status_code)
        assert_clear_4xx(resp, ep.path)
        # Streamed without a Content-Length the body is counted as it arrives: the same 413.
        raw = f'{{"{key}": "'.encode() + b"a" * 1_200_000 + b'"}'
        chunks = (raw[i : i + 65536] for i in range(0, len(raw), 65536))
        resp = client.request(
            ep.method,
            ep.path,
            content=chunks,
            headers={**headers[ep.who], "Content-Type": "application/json"},
        )
        assert resp.status_code == 413, (ep.path, "chunked", resp.status_code)
        assert resp.json()["error"]["code"] == "payload_too_large"
    assert row_counts(db) == before


def test_huge_ids_in_paths_and_queries_are_4xx(db, setup) -> None:  # type: ignore[no-untyped-def]
    client, headers, _ = setup
    member, op = headers["member"], headers["operator"]
    before = row_counts(db)
    for big in (2**31, 2**63, 10**30):
        for method, url, h in (
            ("GET", f"/api/v1/orders/{big}", member),
            ("POST", f"/api/v1/orders/{big}/confirm-payment", op),
            ("GET", f"/api/v1/scripts/{big}", member),
            ("DELETE", f"/api/v1/scripts/{big}", member),
            ("GET", f"/api/v1/reservations/{big}", member),
            ("POST", f"/api/v1/reservations/{big}/cancel", member),
            ("GET", f"/api/v1/reservations/{big}/items", op),
            ("GET", f"/api/v1/reservations/{big}/messages", member),
            ("POST", f"/api/v1/notifications/{big}/read", member),
            ("POST", f"/api/v1/additions/{big}/approve", op),
            ("DELETE", f"/api/v1/ng-domains/{big}", member),
            ("DELETE", f"/api/v1/suppressions/{big}", op),
            ("GET", f"/api/v1/prospects/imports/{big}", op),
            ("GET", f"/api/v1/notifications?before_id={big}", member),
            ("GET", f"/api/v1/orders?member_id={big}", op),
            ("GET", f"/api/v1/scripts?member_id={big}", op),
            ("GET", f"/api/v1/reservations/1/messages?after_id={big}", member),
        ):
            resp = client.request(method, url, headers=h)
            if resp.status_code == 200:  # a filter matching nothing is a fine answer
                continue
            assert_clear_4xx(resp, f"{method} {url}")
    assert row_counts(db) == before
