"""Fixtures of a real ``mikomi mailin`` server (aiosmtpd, in a thread) over a committed
database of its own on each engine, for the conftest.py files of the 反響 tests
(tests/coordinator/responses/, tests/e2e/responses/). The rows they build and read are in
tests/coordinator/responses/replies.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from shared import migrate
from shared.config import Settings, get_settings
from shared.db import reset_engine
from tests.coordinator.responses.replies import DOMAIN, Mailin
from tests.support.databases import ENGINES, create_pg_database, drop_pg_database
from tests.support.mail import Inbox


@pytest.fixture(scope="module", params=ENGINES)
def mail_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh migrated database that the mailin thread reaches through MIKOMI_DATABASE_URL."""
    pg_name = f"mikomi_mailin_{uuid.uuid4().hex[:10]}"
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('mailin') / 'mailin.db'}"
    else:
        url = create_pg_database(pg_name)
    migrate.upgrade(url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIKOMI_DATABASE_URL", url)
        get_settings.cache_clear()
        reset_engine()
        try:
            yield request.param
        finally:
            reset_engine()
            get_settings.cache_clear()
    reset_engine()
    if request.param == "postgresql":
        drop_pg_database(pg_name)


@pytest.fixture
def mailin(mail_db: str, smtp: tuple[Inbox, Settings]) -> Iterator[Mailin]:
    from coordinator.responses.mailin import controller
    from mikomi.supervisor import free_port

    inbox, sink = smtp
    settings = Settings(
        reply_domain=DOMAIN,
        mailin_max_bytes=50_000,
        smtp_host=sink.smtp_host,
        smtp_port=sink.smtp_port,
        mail_from="noreply@mikomi.test",
    )
    server = controller(settings, "127.0.0.1", free_port())
    server.start()
    try:
        yield Mailin(port=server.port, settings=settings, inbox=inbox, handler=server.handler)
    finally:
        server.stop()
