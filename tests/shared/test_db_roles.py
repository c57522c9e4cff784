"""The workers' least-privilege PostgreSQL role: a real send job, in a real browser against the
fixture sites, runs start to finish with exactly its grants — and the role reads nothing else."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session

from fixtures.server import FixtureServer
from shared import items, migrate
from shared.config import get_settings
from shared.db import reset_engine
from shared.db_roles import worker_role_sql
from shared.models import SendItem, Suppression
from tests.builders import make_reservation
from tests.support.databases import create_pg_database, drop_pg_database

SITES = {"cf7-basic": ("sent", None), "refusal-plain": ("skipped", "refused_sales"),
         "no-form": ("failed", "no_form")}  # fmt: skip


@pytest.fixture
def worker_database() -> Iterator[tuple[str, str]]:
    """A fresh migrated database and a worker role on it: (owner URL, worker URL)."""
    name = f"mikomi_roles_{uuid.uuid4().hex[:8]}"
    owner_url = create_pg_database(name)
    migrate.upgrade(owner_url)
    role, password = f"mikomi_worker_{uuid.uuid4().hex[:8]}", "worker-pass"
    owner = create_engine(owner_url)
    with owner.begin() as conn:
        for statement in worker_role_sql(role, password, owner_url):
            conn.execute(text(statement))
    worker_url = make_url(owner_url).set(username=role, password=password)
    yield owner_url, worker_url.render_as_string(hide_password=False)
    owner.dispose()
    drop_pg_database(name)
    admin = create_engine(owner_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
    admin.dispose()


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_a_send_job_runs_on_the_worker_role_alone(
    worker_database: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    owner_url, worker_url = worker_database
    with FixtureServer(generated=0) as server:
        owner = create_engine(owner_url)
        with Session(owner) as db:
            urls = [(f"{site}社", server.url_for(site)) for site in SITES]
            reservation = make_reservation(db, urls=urls, senders=len(urls))
            claimed = items.claim(db, reservation.id, len(urls))
            db.commit()
            ids = {i.url: i.id for i in db.scalars(select(SendItem))}
        # The worker process's view of the world: its own role, nothing more.
        monkeypatch.setenv("MIKOMI_DATABASE_URL", worker_url)
        monkeypatch.setenv("MIKOMI_ALLOW_PRIVATE", "1")
        monkeypatch.setenv("MIKOMI_VAR_DIR", str(tmp_path))
        get_settings.cache_clear()
        reset_engine()
        from worker import jobs

        try:
            for item_id, token in claimed:
                assert jobs.send_item(item_id, token)["attempted"]
        finally:
            jobs.close_sender()
            get_settings.cache_clear()
            reset_engine()
        with Session(owner) as db:
            for site, expected in SITES.items():
                item = db.get(SendItem, ids[server.url_for(site)])
                assert (item.state, item.reason) == expected, site
            assert db.scalar(select(Suppression).where(Suppression.reason == "refused_sales"))
        assert [s["site"] for s in server.submissions()] == ["cf7-basic"]
        owner.dispose()
    # …and that role cannot read what a worker has no business reading.
    spy = create_engine(worker_url)
    with spy.connect() as conn:
        for table in ("users", "auth_tokens", "ticket_orders", "prospects", "chat_messages"):
            with pytest.raises(ProgrammingError, match="permission denied"):
                conn.execute(text(f"SELECT 1 FROM {table} LIMIT 1"))
            conn.rollback()
    spy.dispose()
