"""Every reservation endpoint as anonymous, member A (owner), member B and an operator."""

from __future__ import annotations

from sqlalchemy import select

from shared.models import ReservationAddition
from tests.coordinator.test_reservations_support import MemberEnv, make_operator


def test_authorization_matrix(client, db, make_user) -> None:  # type: ignore[no-untyped-def]
    a = MemberEnv(db, make_user, tickets=2_000, prospects=700)
    b = MemberEnv(db, make_user, tickets=2_000, prospects=0)
    _, op = make_operator(db, make_user)
    created = client.post("/api/v1/reservations", json=a.body(300), headers=a.headers)
    assert created.status_code == 201
    rid = created.json()["id"]
    addition = client.post(
        f"/api/v1/reservations/{rid}/additions", json={"count": 100}, headers=a.headers
    )
    assert addition.status_code == 201
    add_id = addition.json()["id"]
    transfer = {"list_url": a.list_url, "count": 10, "script_id": a.script.id}

    # (method, path, json) → expected status for anonymous, A, B, operator. Reads first, then
    # the writes in an order that keeps every one of them meaningful.
    reads = [
        ("GET", "/api/v1/reservations", None),
        ("GET", f"/api/v1/reservations/{rid}", None),
        ("GET", f"/api/v1/reservations/{rid}/history", None),
        ("GET", f"/api/v1/reservations/{rid}/items", None),
        ("GET", f"/api/v1/reservations/{rid}/items.csv", None),
        ("GET", f"/api/v1/reservations/{rid}/messages", None),
    ]
    for method, path, body in reads:
        assert client.request(method, path, json=body).status_code == 401, path
        assert client.request(method, path, json=body, headers=a.headers).status_code == 200
        b_status = client.request(method, path, json=body, headers=b.headers).status_code
        assert b_status == (200 if path == "/api/v1/reservations" else 404), path
        assert client.request(method, path, json=body, headers=op).status_code == 200, path
    # B's list does not contain A's reservation; the operator's does.
    assert client.get("/api/v1/reservations", headers=b.headers).json()["total"] == 0
    op_ids = [
        r["id"]
        for r in client.get("/api/v1/reservations?per_page=200", headers=op).json()["reservations"]
    ]
    assert rid in op_ids

    def status(
        path: str, headers: dict[str, str] | None, body: object = None, method: str = "POST"
    ) -> int:
        return client.request(method, path, json=body, headers=headers).status_code

    base = f"/api/v1/reservations/{rid}"
    # Operator-only actions: anonymous 401, members 403 (B is refused before it learns anything).
    for path, body, method in (
        (f"{base}/approve", None, "POST"),
        (f"/api/v1/additions/{add_id}/approve", None, "POST"),
        ("/api/v1/additions", None, "GET"),
    ):
        assert status(path, None, body, method) == 401
        assert status(path, a.headers, body, method) == 403
        assert status(path, b.headers, body, method) == 403
    # Senders are the operators': A is refused, B does not see the reservation at all.
    assert status(base, None, {"senders": 2}, "PATCH") == 401
    assert status(base, a.headers, {"senders": 2}, "PATCH") == 403
    assert status(base, b.headers, {"senders": 2}, "PATCH") == 404
    # Member writes on A's reservation: B gets 404, anonymous 401.
    for path, body in (
        (f"{base}/pause", {}),
        (f"{base}/resume", None),
        (f"{base}/cancel", None),
        (f"{base}/transfers", transfer),
        (f"{base}/additions", {"count": 100}),
        (f"{base}/messages", {"body": "こんにちは"}),
    ):
        assert status(path, None, body) == 401, path
        assert status(path, b.headers, body) == 404, path
    # Creating is for members only.
    assert status("/api/v1/reservations", op, a.body(300)) == 403
    # And the allowed ones work for who may do them.
    assert status(f"{base}/approve", op) == 200
    assert status(base, op, {"senders": 2}, "PATCH") == 200
    assert status(f"{base}/pause", a.headers, {}) == 200
    assert status(f"{base}/resume", op) == 200
    assert status(f"/api/v1/additions/{add_id}/approve", op) == 200
    assert (
        db.scalar(select(ReservationAddition.status).where(ReservationAddition.id == add_id))
        == "approved"
    )
    assert status(f"{base}/cancel", a.headers) == 200
    assert status("/api/v1/reservations/999999999", a.headers, method="GET") == 404
