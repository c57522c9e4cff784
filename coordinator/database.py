"""The request owns the transaction: commit after the endpoint, run after-commit hooks."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import Request
from sqlalchemy.orm import Session

from shared.db import session_factory

AFTER_COMMIT_KEY = "after_commit"


def after_commit(session: Session, hook: Callable[[], None]) -> None:
    """Run ``hook`` once the transaction commits (enqueue jobs, publish events); drop it on
    rollback so no worker ever starts on a row that does not exist."""
    session.info.setdefault(AFTER_COMMIT_KEY, []).append(hook)


def run_after_commit(session: Session) -> None:
    hooks = session.info.pop(AFTER_COMMIT_KEY, [])
    for hook in hooks:
        hook()


def commit(session: Session) -> None:
    session.commit()
    run_after_commit(session)


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_db(request: Request) -> Iterator[Session]:
    session = session_factory()()
    if request.method in UNSAFE_METHODS and session.get_bind().dialect.name == "sqlite":
        # A write request takes SQLite's writer lock up front: a deferred transaction that read
        # first fails at once ("database is locked") when another writer committed meanwhile.
        session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
    try:
        yield session
        commit(session)
    except BaseException:
        session.rollback()
        session.info.pop(AFTER_COMMIT_KEY, None)
        raise
    finally:
        session.close()
