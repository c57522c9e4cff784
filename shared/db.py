"""Database engine, sessions, and the one owner of a transaction.

Every entry point (the request dependency, the dispatcher's tick, the sweeper's rules, the send
job's steps, the CLI commands) runs its work in :func:`transaction`: it commits, or rolls back
on any error, and then runs what :func:`after_commit` asked for. Services never commit: they
flush when they need an id, and ask for what must follow the commit (enqueue a job, publish an
event, send mail) with :func:`after_commit`, so that nothing starts on a row that was never
committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from shared import keyword_index
from shared.config import get_settings, link_probes

__all__ = [
    "AFTER_COMMIT_KEY",
    "after_commit",
    "get_engine",
    "make_engine",
    "reset_engine",
    "rollback",
    "session_factory",
    "transaction",
]

log = logging.getLogger(__name__)

# Where a session keeps the hooks of its open transaction (``Session.info``).
AFTER_COMMIT_KEY = "mikomi.after_commit"

Hook = TypeVar("Hook", bound=Callable[[], None])


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin, so that
    # SAVEPOINTs and the rollback-per-test pattern work (SQLAlchemy's pysqlite recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # A 64 MiB page cache and memory-mapped reads: prospect searches over a million rows stay
    # in memory instead of re-reading pages per query.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA mmap_size=268435456")
    cursor.close()
    # The prospect list's keyword index is kept by triggers that call this (shared/keyword_index.py).
    dbapi_connection.create_function(
        keyword_index.FUNCTION, 2, keyword_index.document, deterministic=True
    )


def _sqlite_begin(conn: Any) -> None:
    # A deferred BEGIN; a transaction that will write takes the writer lock with
    # shared.locks.writer_lock.
    conn.exec_driver_sql("BEGIN")


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = url or get_settings().effective_database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    kwargs.setdefault("pool_pre_ping", True)
    # No JIT: its compile costs 100–300 ms on the first run of each big search plan (counts
    # over millions of prospects), more than the searches themselves (docs/operations.md).
    options = "-c jit=off"
    idle_ms = int(get_settings().db_idle_in_transaction_s * 1000)
    if idle_ms > 0:
        options += f" -c idle_in_transaction_session_timeout={idle_ms}"
    kwargs.setdefault("connect_args", {"options": options, **_link_limits()})
    return create_engine(url, **kwargs)


def _link_limits() -> dict[str, int]:
    """libpq's parameters that bound the wait on a silent link to ``link_timeout_s``: data
    unacknowledged that long ends the connection (``tcp_user_timeout``), an idle connection is
    probed by keepalives that give up within the same time, and a connect waits at most 10 s.
    A long statement is not cut: the server's kernel acknowledges while the server works."""
    probes = link_probes()
    if probes is None:
        return {}
    return {
        "connect_timeout": max(2, min(10, round(probes.user_timeout_ms / 1000))),
        "keepalives": 1,
        "keepalives_idle": probes.idle_s,
        "keepalives_interval": probes.interval_s,
        "keepalives_count": probes.probes,
        "tcp_user_timeout": probes.user_timeout_ms,
    }


def may_idle(db: Session) -> None:
    """Exempt this read-only transaction from ``db_idle_in_transaction_s``: a streamed download
    waits on the client between batches, and holds no row lock anyone waits for."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))


_engine: Engine | None = None
_factory: sessionmaker[Session] | None = None


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        _engine = make_engine()
    return _engine


def session_factory() -> sessionmaker[Session]:
    global _factory
    if _factory is None:
        _factory = sessionmaker(bind=get_engine(), expire_on_commit=False)
    return _factory


def reset_engine() -> None:
    """Forget the cached engine (tests and forked processes)."""
    global _engine, _factory
    if _engine is not None:
        _engine.dispose()
    _engine = None
    _factory = None


def after_commit(session: Session, hook: Hook, *, key: str | None = None) -> Hook:
    """Run ``hook`` once the session's transaction commits; drop it if the transaction rolls
    back. With ``key``, one hook per key and transaction: a second call returns the hook the
    first one registered (one publisher collecting rows, one mail delivery per commit).

    A hook that raises is logged, never raised: what it follows has committed already."""
    hooks: dict[object, Callable[[], None]] = session.info.setdefault(AFTER_COMMIT_KEY, {})
    return cast(Hook, hooks.setdefault(key if key is not None else object(), hook))


def rollback(session: Session) -> None:
    """Roll the session's transaction back and forget its after-commit hooks."""
    session.info.pop(AFTER_COMMIT_KEY, None)
    session.rollback()


def _run_after_commit(session: Session) -> None:
    hooks: dict[object, Callable[[], None]] = session.info.pop(AFTER_COMMIT_KEY, {})
    for hook in hooks.values():
        try:
            hook()
        except Exception:
            log.exception("after-commit hook failed")


@contextmanager
def transaction(session: Session | None = None) -> Iterator[Session]:
    """One transaction: commit on success, then run the after-commit hooks; roll back on any
    error, dropping them.

    Without ``session`` it opens a session of its own and closes it at the end; with one (a
    test's session, or a loop running several transactions one after another on one session)
    it leaves that session open. The hooks run before the session closes, so a hook may use
    it for a transaction of its own."""
    db = session if session is not None else session_factory()()
    try:
        yield db
        db.commit()
    except BaseException:
        rollback(db)
        raise
    else:
        _run_after_commit(db)
    finally:
        if session is None:
            db.close()
