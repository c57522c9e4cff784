"""The request's transaction: :func:`get_db`, the FastAPI dependency over
``shared.db.transaction`` (commit after the endpoint, then the after-commit hooks)."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy.orm import Session

from shared.db import transaction
from shared.locks import writer_lock

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_db(request: Request) -> Iterator[Session]:
    with transaction() as session:
        if request.method in UNSAFE_METHODS:
            # A write request waits for SQLite's writer lock before its first read: a deferred
            # transaction that read first fails at once ("database is locked") when another
            # writer committed meanwhile.
            writer_lock(session)
        yield session
