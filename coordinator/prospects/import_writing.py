"""Writing parsed prospect rows: one batch with its keyword index, skipping the domains (and,
for rows without a URL, the fingerprints) already in the list or repeated in the batch. SQLite
and PostgreSQL each get their fastest bulk path."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from shared.models import ImportJob, Prospect, prospect_grams

_INSERT_COLUMNS = (
    "id", "company", "company_kana", "url", "domain", "fingerprint", "industry", "prefecture",
    "city", "address", "phone", "employees", "capital", "founded", "tags", "search_text",
    "created_at",
)  # fmt: skip


def _identity(row: dict[str, Any]) -> str:
    """The unique key of a row: its domain, or the fingerprint of a row without a URL."""
    return row["domain"] if row["domain"] is not None else "#" + row["fingerprint"]


def _grams_of(rows: list[dict[str, Any]], inserted: set[int]) -> list[tuple[str, int]]:
    pairs = [
        (gram, row["id"])
        for row in rows
        if row["id"] in inserted
        for gram in prospect_grams(row["search_text"])
    ]
    pairs.sort()  # index order: each page of the keyword index is touched once per batch
    return pairs


def _insert_sqlite(db: Session, rows: list[dict[str, Any]], job_id: int) -> list[dict[str, Any]]:
    # Take the write lock first: SQLite has one writer, so while this transaction lasts the
    # existing domains and the highest id stay as read here, and the ids below are ours.
    db.execute(update(ImportJob).where(ImportJob.id == job_id).values(status=ImportJob.status))
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
            existing.update(prefix + key for key in found)
    fresh = [row for row in rows if _identity(row) not in existing]
    if not fresh:
        return []
    next_id = int(db.execute(select(func.coalesce(func.max(Prospect.id), 0))).scalar_one()) + 1
    for offset, row in enumerate(fresh):
        row["id"] = next_id + offset
    # Plain DB-API executemany with tuples: the ORM's bulk path costs more than SQLite itself.
    conn = db.connection()
    # A bigger page cache keeps the index B-trees of a million rows in memory while importing.
    conn.exec_driver_sql("PRAGMA cache_size=-131072")
    marks = ", ".join("?" for _ in _INSERT_COLUMNS)
    created = fresh[0]["created_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    conn.exec_driver_sql(
        f"INSERT INTO prospects ({', '.join(_INSERT_COLUMNS)}) VALUES ({marks})",
        [
            tuple(created if name == "created_at" else row[name] for name in _INSERT_COLUMNS)
            for row in fresh
        ],
    )
    pairs = _grams_of(fresh, {row["id"] for row in fresh})
    if pairs:
        conn.exec_driver_sql("INSERT INTO prospect_grams (gram, prospect_id) VALUES (?, ?)", pairs)
    return fresh


def _insert_postgresql(
    db: Session, rows: list[dict[str, Any]], job_id: int
) -> list[dict[str, Any]]:
    # Ids first (the keyword index needs them), then COPY into a transaction-local table and
    # one INSERT … SELECT: several times faster than multi-row INSERTs, and ON CONFLICT still
    # settles a race with a concurrent import of the same domain.
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
            "CREATE TEMP TABLE IF NOT EXISTS prospect_import_batch "
            "(LIKE prospects INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
    )
    raw: Any = db.connection().connection.driver_connection  # the psycopg connection
    copy_sql = f"COPY prospect_import_batch ({columns}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for row in rows:
            copy.write_row(tuple(row[name] for name in _INSERT_COLUMNS))
    inserted = set(
        db.execute(
            text(
                f"INSERT INTO prospects ({columns}) SELECT {columns} FROM prospect_import_batch "
                "ON CONFLICT DO NOTHING RETURNING id"
            )
        ).scalars()
    )
    db.execute(text("DELETE FROM prospect_import_batch"))
    pairs = _grams_of(rows, inserted)
    if pairs:
        with (
            raw.cursor() as cursor,
            cursor.copy("COPY prospect_grams (gram, prospect_id) FROM STDIN") as copy,
        ):
            for pair in pairs:
                copy.write_row(pair)
    return [row for row in rows if row["id"] in inserted]


def write_batch(
    db: Session, rows: list[dict[str, Any]], now: datetime, job_id: int
) -> tuple[int, int]:
    """Insert ``rows`` with their keyword index, skipping the domains (and, for rows without a
    URL, the fingerprints) already present or repeated; → (imported, duplicates)."""
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
    if db.get_bind().dialect.name == "postgresql":
        inserted = _insert_postgresql(db, unique, job_id)
    else:
        inserted = _insert_sqlite(db, unique, job_id)
    return len(inserted), len(rows) - len(inserted)
