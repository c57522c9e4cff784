"""Locks: how a transaction keeps the other writers out of what it is about to change.

The locks that several parts of the project take are taken here, one way each:

* :func:`writer_lock` — SQLite has a single writer lock for the whole database. A transaction
  that reads and then writes must take it *before its first read*: a deferred transaction whose
  read snapshot went stale (another writer committed meanwhile) fails at once with "database is
  locked" instead of waiting its turn. A no-op write takes it and waits under ``busy_timeout``.
  On PostgreSQL row locks do this job and it does nothing.
* :func:`lock_member` — a member's ticket ledger (``shared.ledger``).
* :func:`lock_reservation` — a reservation's row and its counters: every change of an item's
  state, and every pause, cancel or list change of the reservation.
* :func:`claim_lock` — the dispatcher's claims, across dispatcher processes.
* :func:`forward_lock` — mailin's forwarding of replies, across mailin processes (MX hosts).

Order: a transaction that needs both takes the reservation's lock before the member's (an
outcome consumes a ticket, a completion releases the hold, a list transfer queues prospects),
so that two of them never wait for each other. A row lock of one query only (an order, an
addition, the mail queue) is written ``select(...).with_for_update()`` beside its query:
SQLAlchemy leaves ``FOR UPDATE`` out on SQLite, where the writer lock already covers the row.
"""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from shared.models import Member, Reservation

__all__ = ["claim_lock", "forward_lock", "lock_member", "lock_reservation", "writer_lock"]

# Serializes claims across dispatcher processes on PostgreSQL (a transaction-level advisory
# lock): SKIP LOCKED alone cannot keep two claims off one domain.
_CLAIM_LOCK_KEY = 0x6D696B6F  # "miko"
_FORWARD_LOCK_KEY = 0x6D696B66  # "mikf"


def _is_sqlite(db: Session) -> bool:
    return db.get_bind().dialect.name == "sqlite"


def writer_lock(db: Session) -> None:
    """On SQLite, take the database's writer lock now (waiting for it); on PostgreSQL nothing."""
    if _is_sqlite(db):
        db.execute(text("UPDATE reservations SET id = id WHERE 0"))


def lock_member(db: Session, member_id: int) -> None:
    """Serialize the ledger writes of one member until the transaction ends."""
    writer_lock(db)
    db.execute(select(Member.id).where(Member.id == member_id).with_for_update())


def lock_reservation(db: Session, reservation_id: int) -> Reservation:
    """Lock the reservation row for this transaction and return it freshly loaded.

    Every writer of a reservation's counters must hold this lock before reading the counters
    it will change, so that two writers (the dispatcher and a worker, say) cannot lose each
    other's updates."""
    writer_lock(db)
    stmt = select(Reservation).where(Reservation.id == reservation_id).with_for_update()
    return db.execute(stmt.execution_options(populate_existing=True)).scalar_one()


def claim_lock(db: Session) -> None:
    """One dispatcher claim at a time in the whole fleet, until the transaction ends."""
    writer_lock(db)
    if not _is_sqlite(db):
        db.execute(select(func.pg_advisory_xact_lock(_CLAIM_LOCK_KEY)))


def forward_lock(db: Session) -> None:
    """One forwarder of replies at a time in the whole fleet (each MX host runs a mailin),
    until the transaction ends; it waits for the other one's round. On SQLite — one host's
    database — nothing: holding its writer lock through SMTP sends would stop every writer."""
    if not _is_sqlite(db):
        db.execute(select(func.pg_advisory_xact_lock(_FORWARD_LOCK_KEY)))
