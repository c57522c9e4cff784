"""Scratch PostgreSQL databases next to the test database, for tests that need a database of
their own (migrations, database roles, a fleet)."""

from __future__ import annotations

import os

from sqlalchemy import create_engine, text

# Every database test runs on both engines.
ENGINES = ("sqlite", "postgresql")

PG_ADMIN_URL = os.environ.get(
    "MIKOMI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def create_pg_database(name: str) -> str:
    """Create the database ``name``; returns its URL."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
