"""Session-wide fixtures: databases on both engines, migrated once, rolled back per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shared import clock, migrate
from shared.config import Settings
from shared.db import make_engine
from tests.support.databases import ENGINES, create_pg_database, drop_pg_database
from tests.support.mail import Inbox

# Card orders use the test gateway (honoured under the tests, see shared.config.under_tests),
# and invoices have an issuer; tests of other settings change them with monkeypatch.
for _name, _value in {
    "MIKOMI_PAYMENTS": "test",
    "MIKOMI_INVOICE_ISSUER": "ミコミ株式会社",
    "MIKOMI_INVOICE_REGISTRATION_NO": "T1234567890123",
    "MIKOMI_BANK_ACCOUNT": "みこみ銀行 本店営業部 普通 1234567 ミコミ（カ",
}.items():
    os.environ.setdefault(_name, _value)


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One fresh migrated database per engine for the whole test session."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    pg_name = f"mikomi_test_{worker}_{uuid.uuid4().hex[:8]}"
    urls = {
        "sqlite": f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}",
        "postgresql": create_pg_database(pg_name),
    }
    for url in urls.values():
        migrate.upgrade(url)
    yield urls
    drop_pg_database(pg_name)


@pytest.fixture(scope="session")
def engines(database_urls: dict[str, str]) -> Iterator[dict[str, Engine]]:
    made = {name: make_engine(url) for name, url in database_urls.items()}
    yield made
    for engine in made.values():
        engine.dispose()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, engines: dict[str, Engine]) -> Engine:
    return engines[request.param]


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test.

    Code under test may call ``commit()``: with ``join_transaction_mode="create_savepoint"``
    that only releases a savepoint, and the outer transaction still rolls everything back.
    """
    connection = engine.connect()
    outer = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> None:
    """Every test user costs one argon2 hash; tests don't need production's work factor."""
    from argon2 import PasswordHasher

    from coordinator.accounts import service

    service.use_password_hasher(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))


@pytest.fixture(autouse=True)
def _reset_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


# --- the coordinator over the rolled-back session ---------------------------------------------


@pytest.fixture
def app(db: Session):  # type: ignore[no-untyped-def]
    """The FastAPI app with every request using the test's rolled-back session."""
    from coordinator.app import create_app
    from coordinator.database import get_db
    from shared.db import transaction

    application = create_app()

    def _test_db() -> Iterator[Session]:
        # Its commit releases the savepoint only; the test's outer transaction rolls back.
        with transaction(db) as session:
            yield session

    application.dependency_overrides[get_db] = _test_db
    return application


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def make_user(db: Session):  # type: ignore[no-untyped-def]
    """``make_user("member", company="A社")`` → (user, {"Authorization": "Bearer …"})."""
    from coordinator.accounts import service
    from shared.enums import Role

    counter = iter(range(1, 10_000))

    def _make(
        role: str = "member",
        company: str | None = "テスト株式会社",
        email: str | None = None,
        password: str = "password-123",
    ):  # type: ignore[no-untyped-def]
        n = next(counter)
        user = service.create_user(
            db,
            email=email or f"{role}{n}-{uuid.uuid4().hex[:6]}@example.test",
            password=password,
            role=Role(role),
            company=company if role == "member" else None,
            name=f"テスト {role} {n}",
        )
        token, _ = service.issue_token(db, user, "api")
        # Commit (releases the savepoint only): a failing request in the test rolls back its own
        # work, not the users the test made before it.
        db.commit()
        return user, {"Authorization": f"Bearer {token}"}

    return _make


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, Settings]]:
    """A real SMTP server (aiosmtpd) on a free loopback port: its inbox, and settings that
    send to it."""
    from aiosmtpd.controller import Controller

    from mikomi.supervisor import free_port

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield (
            inbox,
            Settings(
                smtp_host="127.0.0.1",
                smtp_port=controller.port,
                mail_from="noreply@mikomi.test",
                public_base_url="http://127.0.0.1:8000",
            ),
        )
    finally:
        controller.stop()


@pytest.fixture
def only_this_tests_prospects(db: Session) -> None:
    """Other tests may leave committed prospects (and items, mails and links pointing at them)
    in the shared database; hide them inside this test's transaction, which is rolled back
    afterwards."""
    from sqlalchemy import delete, text

    from shared.models import (
        MemberContact,
        Prospect,
        Response,
        SendAttempt,
        SendItem,
        TicketLedgerEntry,
        TrackedLink,
    )

    db.execute(delete(SendAttempt))
    db.execute(delete(TicketLedgerEntry).where(TicketLedgerEntry.item_id.is_not(None)))
    db.execute(delete(MemberContact))
    db.execute(delete(Response))
    db.execute(delete(TrackedLink))
    db.execute(delete(SendItem))
    if db.get_bind().dialect.name == "postgresql":
        # The keyword index's triggers would rewrite every posting block of the hidden rows
        # (gigabytes of dead rows over a session, for a delete that is rolled back): with
        # triggers off, empty the index and the counts directly instead.
        db.execute(text("SET LOCAL session_replication_role = replica"))
        db.execute(delete(Prospect))
        db.execute(text("DELETE FROM prospect_keyword_blocks"))
        db.execute(text("DELETE FROM prospect_counts"))
        db.execute(text("SET LOCAL session_replication_role = origin"))
    else:
        db.execute(delete(Prospect))
    db.commit()  # a savepoint: the outer transaction still rolls all of it back
