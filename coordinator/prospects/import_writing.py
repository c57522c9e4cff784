"""Writing parsed prospect rows: one batch with its keyword index, skipping the domains (and,
for rows without a URL, the fingerprints) already in the list or repeated in the batch. SQLite
and PostgreSQL each get their fastest bulk path.

A row with a ``corporate_number`` (法人番号) is identified by it: when the list already has that
corporation (a registry row, coordinator/prospects/registry.py), the row fills in its URL,
industry, employees and the other columns it gives instead of adding a company."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from shared.models import (
    ImportJob,
    Prospect,
    prospect_search_text,
)

_INSERT_COLUMNS = (
    "id", "company", "company_kana", "url", "domain", "fingerprint", "industry", "prefecture",
    "city", "address", "phone", "employees", "capital", "founded", "tags", "search_text",
    "created_at", "corporate_number", "closed_at", "registry_updated",
)  # fmt: skip
# What a prospects CSV row with a corporate number fills in on the registry row, when given.
_JOIN_COLUMNS = ("url", "domain", "industry", "phone", "employees", "capital", "founded", "tags")
_CHUNK = 10_000
_STAGING = "prospect_import_batch"  # a batch's rows (a temporary table) before they go in at once
_UPDATES = "prospect_update_batch"  # a batch's changes before one UPDATE … FROM


def _identity(row: dict[str, Any]) -> str:
    """The unique key of a row: its corporate number, else its domain, else the fingerprint of
    a row without a URL."""
    if row.get("corporate_number"):
        return "=" + str(row["corporate_number"])
    return str(row["domain"]) if row["domain"] is not None else "#" + str(row["fingerprint"])


def lock_for_writing(db: Session, job_id: int) -> None:
    """On SQLite, take the write lock first: it has one writer, so while this transaction lasts
    what is read here stays as read (PostgreSQL settles races with ON CONFLICT instead)."""
    if db.get_bind().dialect.name == "sqlite":
        db.execute(update(ImportJob).where(ImportJob.id == job_id).values(status=ImportJob.status))


def rows_by_number(db: Session, numbers: Iterable[str], *columns: Any) -> dict[str, Any]:
    """corporate number → (id, *columns) of the prospects that have these numbers."""
    keys = list(numbers)
    found: dict[str, Any] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        stmt = select(Prospect.corporate_number, Prospect.id, *columns).where(
            Prospect.corporate_number.in_(chunk)
        )
        for row in db.execute(stmt):
            found[row[0]] = row[1:]
    return found


def update_rows(db: Session, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    """Set ``columns`` (and ``search_text``) of the prospects ``rows`` name by ``id``: the rows
    go into a table of the transaction's own, then one UPDATE … FROM sets them all. The keyword
    index follows by the table's triggers, once for the statement (PostgreSQL: the posting
    blocks of migration 0010) or within one statement (SQLite: FTS5, see :func:`_insert_sqlite`)."""
    if not rows:
        return
    names = (*columns, "search_text")
    listed = ", ".join(("id", *names))
    pick = itemgetter("id", *names)
    ordered = sorted(rows, key=itemgetter("id"))
    # The batch table has this call's columns (registry rows and CSV joins differ).
    db.execute(text(f"DROP TABLE IF EXISTS {_UPDATES}"))
    if db.get_bind().dialect.name == "postgresql":
        db.execute(
            text(
                f"CREATE TEMP TABLE {_UPDATES} ON COMMIT DROP AS "
                f"SELECT {listed} FROM prospects WITH NO DATA"
            )
        )
        raw: Any = db.connection().connection.driver_connection  # the psycopg connection
        with raw.cursor() as cursor, cursor.copy(f"COPY {_UPDATES} ({listed}) FROM STDIN") as copy:
            for row in ordered:
                copy.write_row(pick(row))
    else:
        conn = db.connection()
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE {_UPDATES} AS SELECT {listed} FROM prospects WHERE 0"
        )
        marks = ", ".join("?" for _ in ("id", *names))
        conn.exec_driver_sql(
            f"INSERT INTO {_UPDATES} VALUES ({marks})",
            [tuple(_sqlite_value(value) for value in pick(row)) for row in ordered],
        )
    assignments = ", ".join(f"{name} = b.{name}" for name in names)
    db.execute(
        text(f"UPDATE prospects AS p SET {assignments} FROM {_UPDATES} AS b WHERE p.id = b.id")
    )


def _sqlite_value(value: Any) -> Any:
    """A value as SQLAlchemy stores it on SQLite (dates as ISO text)."""
    return value.isoformat() if isinstance(value, date) else value


_PICK = itemgetter(*_INSERT_COLUMNS)
_CREATED = _INSERT_COLUMNS.index("created_at")
_DATES = tuple(_INSERT_COLUMNS.index(name) for name in ("closed_at", "registry_updated"))


def _sqlite_values(row: dict[str, Any], created: str) -> tuple[Any, ...]:
    values = list(_PICK(row))
    values[_CREATED] = created
    for index in _DATES:
        values[index] = _sqlite_value(values[index])
    return tuple(values)


def _insert_sqlite(db: Session, rows: list[dict[str, Any]], job_id: int) -> list[dict[str, Any]]:
    # The write lock first: the existing domains and the highest id stay as read here, and
    # the ids below are ours.
    lock_for_writing(db, job_id)
    domains = [row["domain"] for row in rows if row["domain"] is not None]
    prints = [row["fingerprint"] for row in rows if row["domain"] is None]
    existing: set[str] = set()
    for column, keys, prefix in (
        (Prospect.domain, domains, ""),
        (Prospect.fingerprint, prints, "#"),
    ):
        for start in range(0, len(keys), 10_000):
            chunk = keys[start : start + 10_000]
            found = db.scalars(select(column).where(column.in_(chunk)))
            existing.update(prefix + key for key in found if key is not None)
    fresh = [row for row in rows if _identity(row) not in existing]
    if not fresh:
        return []
    next_id = int(db.execute(select(func.coalesce(func.max(Prospect.id), 0))).scalar_one()) + 1
    for offset, row in enumerate(fresh):
        row["id"] = next_id + offset
    # Plain DB-API executemany with tuples (the ORM's bulk path costs more than SQLite itself)
    # into a temporary table, then one INSERT … SELECT. Each execution of a statement whose
    # triggers write the FTS5 table opens a statement savepoint, and FTS5 writes its pending
    # terms to disk as a new segment at every savepoint: row by row, that was a segment per
    # prospect and most of an import's time (docs/architecture.md#the-keyword-index).
    conn = db.connection()
    # A bigger page cache keeps the index B-trees of a million rows in memory while importing.
    conn.exec_driver_sql("PRAGMA cache_size=-131072")
    columns = ", ".join(_INSERT_COLUMNS)
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} AS SELECT {columns} FROM prospects WHERE 0"
    )
    marks = ", ".join("?" for _ in _INSERT_COLUMNS)
    created = fresh[0]["created_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    conn.exec_driver_sql(
        f"INSERT INTO {_STAGING} VALUES ({marks})",
        [_sqlite_values(row, created) for row in fresh],
    )
    conn.exec_driver_sql(f"INSERT INTO prospects ({columns}) SELECT {columns} FROM {_STAGING}")
    conn.exec_driver_sql(f"DELETE FROM {_STAGING}")
    return fresh  # the keyword index (FTS5) is written by the table's triggers


def _insert_postgresql(
    db: Session, rows: list[dict[str, Any]], job_id: int
) -> list[dict[str, Any]]:
    # Ids first (the caller's rows carry them), then COPY into a transaction-local table and
    # one INSERT … SELECT: several times faster than multi-row INSERTs, and ON CONFLICT still
    # settles a race with a concurrent import of the same domain. The keyword index is written
    # by the table's statement trigger (migration 0010), once for the whole batch.
    ids = (
        db.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('prospects', 'id')) FROM generate_series(1, :n)"
            ),
            {"n": len(rows)},
        )
        .scalars()
        .all()
    )
    for row, new_id in zip(rows, ids, strict=True):
        row["id"] = int(new_id)
    columns = ", ".join(_INSERT_COLUMNS)
    db.execute(
        text(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} "
            "(LIKE prospects INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
    )
    raw: Any = db.connection().connection.driver_connection  # the psycopg connection
    copy_sql = f"COPY {_STAGING} ({columns}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for row in rows:
            copy.write_row(_PICK(row))
    inserted = set(
        db.execute(
            text(
                f"INSERT INTO prospects ({columns}) SELECT {columns} FROM {_STAGING} "
                "ORDER BY id ON CONFLICT DO NOTHING RETURNING id"
            )
        ).scalars()
    )
    db.execute(text(f"DELETE FROM {_STAGING}"))
    return [row for row in rows if row["id"] in inserted]


def insert_rows(db: Session, rows: list[dict[str, Any]], job_id: int) -> list[dict[str, Any]]:
    """Insert ``rows`` (each with every column of a prospect but ``id``) with their keyword
    index on the engine's fastest path, skipping the domains and fingerprints already there;
    → the rows inserted."""
    if db.get_bind().dialect.name == "postgresql":
        return _insert_postgresql(db, rows, job_id)
    return _insert_sqlite(db, rows, job_id)


def _join_registry(db: Session, rows: list[dict[str, Any]], job_id: int) -> list[dict[str, Any]]:
    """Fill in the prospects that have the corporate numbers of ``rows``; → the rows whose
    number is not in the list yet (they are added as new companies)."""
    numbered = {row["corporate_number"]: row for row in rows if row.get("corporate_number")}
    if not numbered:
        return rows
    lock_for_writing(db, job_id)
    columns = (Prospect.company, Prospect.company_kana, Prospect.city, *(
        getattr(Prospect, name) for name in _JOIN_COLUMNS))  # fmt: skip
    existing = rows_by_number(db, numbered, *columns)
    if not existing:
        return rows
    domains = [numbered[n]["domain"] for n in existing if numbered[n]["domain"]]
    taken: dict[str, int] = {}
    for start in range(0, len(domains), _CHUNK):
        stmt = select(Prospect.domain, Prospect.id).where(
            Prospect.domain.in_(domains[start : start + _CHUNK])
        )
        taken.update({str(domain): pid for domain, pid in db.execute(stmt)})
    updates: list[dict[str, Any]] = []
    for number, (pid, company, kana, city, *current) in existing.items():
        given = numbered[number]
        merged = dict(zip(_JOIN_COLUMNS, current, strict=True))
        for name in _JOIN_COLUMNS:
            if given[name] not in (None, ""):
                merged[name] = given[name]
        if given["domain"] and taken.get(given["domain"], pid) != pid:
            # Another company has that website: this one keeps its own (or none).
            merged["url"], merged["domain"] = current[0], current[1]
        merged["id"] = pid
        merged["search_text"] = prospect_search_text(
            company, given["company_kana"] or kana, merged["industry"], city
        )
        updates.append(merged)
    update_rows(db, updates, _JOIN_COLUMNS)
    return [row for row in rows if row.get("corporate_number") not in existing]


def write_batch(
    db: Session, rows: list[dict[str, Any]], now: datetime, job_id: int
) -> tuple[int, int]:
    """Insert ``rows`` with their keyword index, skipping the domains (and, for rows without a
    URL, the fingerprints) already present or repeated; a row whose corporate number is in the
    list fills that prospect in instead (counted as imported); → (imported, duplicates)."""
    seen: set[str] = set()
    unique: list[dict[str, Any]] = []
    for row in rows:
        key = _identity(row)
        if key in seen:
            continue
        seen.add(key)
        row["created_at"] = now
        unique.append(row)
    if not unique:
        return 0, len(rows)
    fresh = _join_registry(db, unique, job_id)
    joined = len(unique) - len(fresh)
    inserted = insert_rows(db, fresh, job_id) if fresh else []
    return joined + len(inserted), len(rows) - joined - len(inserted)
