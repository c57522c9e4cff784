"""The request's transaction: :func:`get_db`, the FastAPI dependency over
``shared.db.transaction`` (commit after the endpoint, then the after-commit hooks)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

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
        request.state.db = session
        yield session


@asynccontextmanager
async def receiving_body(request: Request) -> AsyncIterator[None]:
    """Around a read of the request's body, which may take minutes (a large upload on a slow
    link): the request's transaction ends before, and a write request takes SQLite's writer
    lock again after. A transaction left open meanwhile would hold SQLite's writer lock against
    every other writer (the dispatcher, the workers), and PostgreSQL ends a session idle inside
    a transaction that long (``MIKOMI_DB_IDLE_IN_TRANSACTION_S``, docs/operations.md)."""
    db: Session | None = getattr(request.state, "db", None)
    if db is not None:
        db.commit()
    try:
        yield
    finally:
        if db is not None and request.method in UNSAFE_METHODS:
            writer_lock(db)


async def read_form(request: Request) -> FormData:
    """The request's form, read under :func:`receiving_body`. Every route that reads a form
    itself goes through here: the CSRF check reads it only when the token is not in the
    ``X-CSRF-Token`` header. Kept on the request, so a second call (the page after the CSRF
    check) neither ends the transaction again nor waits for the writer lock again."""
    form: FormData | None = getattr(request.state, "form", None)
    if form is None:
        async with receiving_body(request):
            form = await request.form()
        request.state.form = form
    return form


async def read_body(request: Request) -> bytes:
    """The request's raw body, read under :func:`receiving_body` (a webhook: anyone may post
    to it, as slowly as they like)."""
    async with receiving_body(request):
        return await request.body()
