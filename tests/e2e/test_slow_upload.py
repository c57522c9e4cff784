"""A request body that arrives over a slow link holds no database transaction while it arrives
(coordinator/database.py ``receiving_body``, ``read_form``, ``read_body``): on SQLite the
request's writer lock would stop every other writer for the whole upload, and PostgreSQL ends
a session idle inside a transaction (``MIKOMI_DB_IDLE_IN_TRANSACTION_S``, here 1 s). A real
coordinator under uvicorn, a client that sends the body in pieces, and a writer in between:
a prospect file through the API, the same file through the import page's form with the CSRF
token in a header (the form is then read by the page, not by the CSRF check), and a payment
webhook, which anyone may post to as slowly as they like."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from shared.models import ImportJob, Member
from tests.support.fleet import Fleet
from tests.support.live import Coordinator, api_token
from tests.support.processes import wait_until
from tests.support.web import PASSWORD, login

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ROWS = [f"遅回線{i}株式会社,https://slow-{i}.example.jp/\n" for i in range(40)]


@pytest.fixture(params=["sqlite", "postgresql"])
def fleet(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    made = Fleet(tmp_path, kind=request.param, generated=0).start(
        extra_env={
            "MIKOMI_DB_IDLE_IN_TRANSACTION_S": "1",
            "MIKOMI_STRIPE_WEBHOOK_SECRET": "whsec_slow_link_test",
        }
    )
    yield made
    made.stop()


def test_a_slow_upload_holds_no_transaction_while_it_arrives(fleet: Fleet) -> None:
    token = api_token(fleet, "operator")
    imports = fleet.tmp / "var" / "imports"
    written = threading.Event()
    seen: dict[str, object] = {}
    head, rest = ("company,url\n" + "".join(ROWS[:20])).encode(), "".join(ROWS[20:]).encode()

    def receiving() -> bool:
        """The coordinator is inside the upload: its file has begun to arrive."""
        return imports.is_dir() and any(imports.glob("*.csv"))

    with Coordinator() as coordinator:

        def upload() -> None:
            with httpx.Client(base_url=coordinator.base, timeout=60) as client:
                seen["response"] = client.post(
                    "/api/v1/prospects/import?filename=slow.csv",
                    content=_paused(head, rest, seen, written),
                    headers={"authorization": f"Bearer {token}", "content-type": "text/csv"},
                )

        sender = threading.Thread(target=upload)
        sender.start()
        wait_until(receiving, 20, "the upload to reach the coordinator", every=0.02)
        with fleet.session() as db:  # another writer while the file is still arriving
            db.add(Member(company_name="並行書き込み株式会社"))
        written.set()
        sender.join(timeout=60)

    assert seen["written_during_upload"] is True  # the write did not wait for the upload
    response = seen["response"]
    assert isinstance(response, httpx.Response)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    with fleet.session(write=False) as db:
        job = db.get(ImportJob, job_id)
        assert job is not None and job.filename == "slow.csv"
        assert db.scalar(select(Member.id).where(Member.company_name == "並行書き込み株式会社"))


def _paused(
    head: bytes, rest: bytes, seen: dict[str, object], written: threading.Event
) -> Iterator[bytes]:
    """A body in two pieces with a pause past the idle limit between them: the second piece
    waits until another writer has committed (or 20 s) and records whether it could."""
    yield head
    seen["first_piece_sent"] = time.monotonic()
    time.sleep(1.5)
    seen["written_during_upload"] = written.wait(timeout=20)
    yield rest


def _write_meanwhile(fleet: Fleet, seen: dict[str, object], written: threading.Event) -> None:
    """Once the first piece is out and the server has had a second to start on the request,
    commit a write of our own."""
    wait_until(lambda: "first_piece_sent" in seen, 20, "the first piece of the body", every=0.02)
    time.sleep(1.0)
    with fleet.session() as db:
        db.add(Member(company_name="並行書き込み株式会社"))
    written.set()


def _operator_cookie_client(fleet: Fleet, base: str) -> tuple[httpx.Client, str]:
    """A browser's session of a new operator: the client with its cookie, and its CSRF token."""
    import uuid

    from coordinator.accounts import service
    from shared.enums import Role

    with fleet.session() as db:
        user = service.create_user(
            db,
            email=f"slow-{uuid.uuid4().hex[:8]}@example.test",
            password=PASSWORD,
            role=Role.OPERATOR,
            company=None,
            name="遅回線",
        )
    # Following redirects as a browser does (tests.support.web.login reads the landing page).
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=True)
    return client, login(client, user)


def test_a_slow_form_with_its_csrf_token_in_a_header_holds_no_transaction(fleet: Fleet) -> None:
    written = threading.Event()
    seen: dict[str, object] = {}
    boundary = "mikomi-slow-boundary"
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="slow-form.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
        "company,url\n" + "".join(ROWS[:20])
    ).encode()
    rest = ("".join(ROWS[20:]) + f"\r\n--{boundary}--\r\n").encode()
    with Coordinator() as coordinator:
        client, csrf = _operator_cookie_client(fleet, coordinator.base)

        def upload() -> None:
            seen["response"] = client.post(
                "/operator/prospects/import",
                content=_paused(head, rest, seen, written),
                headers={
                    "content-type": f"multipart/form-data; boundary={boundary}",
                    "x-csrf-token": csrf,
                },
                follow_redirects=False,
            )

        sender = threading.Thread(target=upload)
        sender.start()
        _write_meanwhile(fleet, seen, written)
        sender.join(timeout=60)
        client.close()

    assert seen["written_during_upload"] is True  # the write did not wait for the upload
    response = seen["response"]
    assert isinstance(response, httpx.Response)
    assert response.status_code == 303, response.text
    job_id = int(response.headers["location"].rsplit("=", 1)[1])
    with fleet.session(write=False) as db:
        job = db.get(ImportJob, job_id)
        assert job is not None and job.filename == "slow-form.csv"


def test_a_slow_webhook_holds_no_transaction(fleet: Fleet) -> None:
    """Nobody needs an account to post to the payment webhook: a body sent slowly must not
    hold the database. Its signature is wrong, so the answer is 400 once it has arrived."""
    written = threading.Event()
    seen: dict[str, object] = {}
    with Coordinator() as coordinator:

        def post() -> None:
            with httpx.Client(base_url=coordinator.base, timeout=60) as client:
                seen["response"] = client.post(
                    "/api/v1/payments/stripe/webhook",
                    content=_paused(b'{"id": "evt_slow", ', b'"type": "ping"}', seen, written),
                    headers={"content-type": "application/json", "stripe-signature": "t=1,v1=00"},
                )

        sender = threading.Thread(target=post)
        sender.start()
        _write_meanwhile(fleet, seen, written)
        sender.join(timeout=60)

    assert seen["written_during_upload"] is True  # the write did not wait for the body
    response = seen["response"]
    assert isinstance(response, httpx.Response)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "signature_invalid", response.text
