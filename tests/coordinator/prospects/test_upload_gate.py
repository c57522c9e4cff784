"""Uploads: the role is checked before the server reads a byte of the body, and uploads are
capped. Driven at the ASGI level, so the test sees exactly how much of the body the app asked
for (a client library would send it all first)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from coordinator.accounts import service as accounts
from coordinator.app import MAX_UPLOAD_BODY_BYTES
from coordinator.dependencies import SESSION_COOKIE

BOUNDARY = "mikomi-test-boundary"
BODY_CHUNKS = 50  # 50 × 64 KiB = a 3.2 MB upload, sent only as the app asks for it


def _call(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """POST a multipart body of BODY_CHUNKS chunks; → (status, chunks the app asked for)."""
    asked = 0
    chunk = b"x" * 65536
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\nt\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        if asked > BODY_CHUNKS:
            return {"type": "http.disconnect"}
        body = head + chunk if asked == 1 else chunk
        return {"type": "http.request", "body": body, "more_body": asked < BODY_CHUNKS}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
            *headers,
        ],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return status[0], asked


@pytest.mark.parametrize("path", ["/operator/prospects/import", "/api/v1/prospects/import"])
def test_a_member_is_refused_before_the_body_is_read(db, app, make_user, path: str) -> None:  # type: ignore[no-untyped-def]
    member, _ = make_user("member")
    token, _ = accounts.issue_token(db, member, "session")
    db.commit()
    cookie = [(b"cookie", f"{SESSION_COOKIE}={token}".encode())]
    status, asked = _call(app, path, cookie)
    assert status == 403
    assert asked == 0, f"the app read {asked} chunks of a body it was going to refuse"


def test_anonymous_uploads_are_refused_unread(app) -> None:  # type: ignore[no-untyped-def]
    status, asked = _call(app, "/api/v1/prospects/import", [])
    assert (status, asked) == (401, 0)


def test_uploads_are_capped(app, make_user) -> None:  # type: ignore[no-untyped-def]
    _, headers = make_user("operator", company=None)
    declared = [
        (b"authorization", headers["Authorization"].encode()),
        (b"content-length", str(MAX_UPLOAD_BODY_BYTES + 1).encode()),
    ]
    status, asked = _call(app, "/api/v1/prospects/import", declared)
    assert (status, asked) == (413, 0)
