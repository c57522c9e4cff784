"""prospect_counts: the number of prospects per prefecture and employee count, kept by triggers

Revision ID: 0011_prospect_counts
Revises: 0010_keyword_blocks
Create Date: 2026-12-05 18:20:00

A search of the prospect list that filters only by prefecture, employee range and URL有り (the
list's most common searches, and "everything") is counted by summing the rows of this table
instead of counting up to millions of index entries (coordinator/prospects/search.py, count;
docs/architecture.md#counting-the-prospect-list). One row per (prefecture, employees): how many
prospects there are and how many of them have a website; ``has_employees`` is false for the
prospects without an employee count (``employees`` is then 0), so that every integer stays a
count of its own. Triggers keep it in step with every insert, update and delete: row triggers
on SQLite, statement triggers with transition tables on PostgreSQL (one upsert per statement,
in key order, so that concurrent writers lock the rows in the same order).

On PostgreSQL it replaces ``prospect_totals`` (migration 0008: the whole list's count as change
rows), which the sum of this table's rows now gives; the downgrade puts that table back.
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0011_prospect_counts"
down_revision = "0010_keyword_blocks"
branch_labels = None
depends_on = None

_TABLE = (
    "CREATE TABLE prospect_counts (prefecture VARCHAR(10) NOT NULL, "
    "has_employees BOOLEAN NOT NULL, employees INTEGER NOT NULL, "
    "total BIGINT NOT NULL, with_url BIGINT NOT NULL, "
    "PRIMARY KEY (prefecture, has_employees, employees)){suffix}"
)
# The key of a prospect row ``{r}`` (new or old).
_KEY = "{r}.prefecture, {r}.employees IS NOT NULL, coalesce({r}.employees, 0)"
_FILL = (
    "INSERT INTO prospect_counts (prefecture, has_employees, employees, total, with_url) "
    f"SELECT {_KEY.format(r='p')}, count(*), count(p.domain) FROM prospects AS p "
    "GROUP BY 1, 2, 3"
)

# SQLite: row triggers.
_SQLITE_ADD = (
    "INSERT INTO prospect_counts (prefecture, has_employees, employees, total, with_url) "
    f"VALUES ({_KEY.format(r='new')}, 1, new.domain IS NOT NULL) "
    "ON CONFLICT (prefecture, has_employees, employees) DO UPDATE "
    "SET total = total + 1, with_url = with_url + excluded.with_url;"
)
_SQLITE_REMOVE = (
    "UPDATE prospect_counts SET total = total - 1, with_url = with_url - (old.domain IS NOT NULL) "
    "WHERE prefecture = old.prefecture AND has_employees = (old.employees IS NOT NULL) "
    "AND employees = coalesce(old.employees, 0);"
)
UPGRADE_SQLITE = [
    _TABLE.format(suffix=" WITHOUT ROWID"),
    _FILL,
    f"CREATE TRIGGER prospects_counts_insert AFTER INSERT ON prospects BEGIN {_SQLITE_ADD} END",
    f"CREATE TRIGGER prospects_counts_delete AFTER DELETE ON prospects BEGIN {_SQLITE_REMOVE} END",
    "CREATE TRIGGER prospects_counts_update AFTER UPDATE OF prefecture, employees, domain "
    f"ON prospects BEGIN {_SQLITE_REMOVE} {_SQLITE_ADD} END",
]

# PostgreSQL: one upsert per statement of the changes it made ({changes}: rows of key, total,
# with_url), in key order.
_PG_UPSERT = """
  INSERT INTO prospect_counts AS c (prefecture, has_employees, employees, total, with_url)
  SELECT ch.prefecture, ch.has_employees, ch.employees, sum(ch.total), sum(ch.with_url)
  FROM ({changes}) AS ch (prefecture, has_employees, employees, total, with_url)
  GROUP BY 1, 2, 3 HAVING sum(ch.total) <> 0 OR sum(ch.with_url) <> 0 ORDER BY 1, 2, 3
  ON CONFLICT (prefecture, has_employees, employees) DO UPDATE
  SET total = c.total + excluded.total, with_url = c.with_url + excluded.with_url;"""
_NEW = f"SELECT {_KEY.format(r='n')}, 1, (n.domain IS NOT NULL)::int FROM new_rows AS n"
_OLD = f"SELECT {_KEY.format(r='o')}, -1, -(o.domain IS NOT NULL)::int FROM old_rows AS o"
_PG_SYNC = f"""CREATE FUNCTION prospect_counts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {_PG_UPSERT.format(changes=_NEW)}
  ELSIF TG_OP = 'DELETE' THEN
    {_PG_UPSERT.format(changes=_OLD)}
  ELSE
    {_PG_UPSERT.format(changes=_NEW + " UNION ALL " + _OLD)}
  END IF;
  RETURN NULL;
END $$"""
UPGRADE_PG = [
    _TABLE.format(suffix=""),
    _FILL,
    _PG_SYNC,
    *(
        f"CREATE TRIGGER prospects_counts_{op_name.lower()} AFTER {op_name} ON prospects "
        f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION prospect_counts_sync()"
        for op_name, tables in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
            ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        )
    ),
]


def _totals() -> object:
    """Migration 0008, whose statements create and drop ``prospect_totals``."""
    return importlib.import_module("shared.migrations.versions.0008_corporate_number")


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        statements = UPGRADE_SQLITE
    else:
        statements = [*UPGRADE_PG, *_totals().PG_TOTALS_DROP]  # type: ignore[attr-defined]
    for statement in statements:
        conn.exec_driver_sql(statement)


def downgrade() -> None:
    conn = op.get_bind()
    for name in ("insert", "delete", "update"):
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS prospects_counts_{name}")
        else:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS prospects_counts_{name} ON prospects")
    conn.exec_driver_sql("DROP TABLE IF EXISTS prospect_counts")
    if conn.dialect.name != "sqlite":
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS prospect_counts_sync()")
        for statement in _totals().PG_TOTALS:  # type: ignore[attr-defined]
            conn.exec_driver_sql(statement)
