"""prospects carry the 法人番号 (corporate number) and a closed date; registry imports resume

Revision ID: 0008_corporate_number
Revises: 0007_responses
Create Date: 2026-12-04 02:30:00

Columns are added (no table copy on SQLite: ADD COLUMN only) and the corporate number gets a
partial unique index. On SQLite the keyword index moves from the 2-gram table to an FTS5 table
kept by triggers (shared/keyword_index.py); it is filled here from the prospects already there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared import keyword_index
from shared.models import prospect_grams

revision = "0008_corporate_number"
down_revision = "0007_responses"
branch_labels = None
depends_on = None

_HAS_NUMBER = sa.text("corporate_number IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("prospects") as batch:
        batch.add_column(sa.Column("corporate_number", sa.String(length=13), nullable=True))
        batch.add_column(sa.Column("closed_at", sa.Date(), nullable=True))
        batch.add_column(sa.Column("registry_updated", sa.Date(), nullable=True))
    op.create_index(
        "ix_prospects_corporate_number",
        "prospects",
        ["corporate_number"],
        unique=True,
        sqlite_where=_HAS_NUMBER,
        postgresql_where=_HAS_NUMBER,
    )
    with op.batch_alter_table("import_jobs") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=20), nullable=False, server_default="csv")
        )
        batch.add_column(sa.Column("source_key", sa.String(length=100), nullable=True))
        batch.add_column(
            sa.Column("resume_offset", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.create_index("ix_import_jobs_source_key", "import_jobs", ["source_key"])
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        for statement in keyword_index.sqlite_schema():
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql(
            f"INSERT INTO {keyword_index.FTS_TABLE}(rowid, t) "
            f"SELECT id, {keyword_index.FUNCTION}(search_text, domain) FROM prospects"
        )
        conn.exec_driver_sql("DELETE FROM prospect_grams")
    else:
        for statement in PG_TOTALS:
            conn.exec_driver_sql(statement)


# PostgreSQL: the number of prospects (and of those with a URL) as rows of changes, one per
# statement that changes the table (statement triggers with transition tables). Summing them
# is exact under every transaction's snapshot and takes no lock (a counter row would make
# concurrent imports wait for each other); counting five million rows is not needed for a
# search of "everything" (coordinator/prospects/search.py, count).
_DELTA = """CREATE FUNCTION prospect_totals_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO prospect_totals (total, with_url)
  SELECT t, u FROM (SELECT {total} AS t, {with_url} AS u) AS change WHERE t <> 0 OR u <> 0;
  RETURN NULL;
END $$"""
PG_TOTALS = [
    "CREATE TABLE prospect_totals (total BIGINT NOT NULL, with_url BIGINT NOT NULL)",
    "INSERT INTO prospect_totals SELECT count(*), count(domain) FROM prospects",
    _DELTA.format(
        name="insert",
        total="(SELECT count(*) FROM new_rows)",
        with_url="(SELECT count(domain) FROM new_rows)",
    ),
    _DELTA.format(
        name="delete",
        total="-(SELECT count(*) FROM old_rows)",
        with_url="-(SELECT count(domain) FROM old_rows)",
    ),
    _DELTA.format(
        name="update",
        total="0",
        with_url="(SELECT count(domain) FROM new_rows) - (SELECT count(domain) FROM old_rows)",
    ),
    "CREATE TRIGGER prospects_totals_insert AFTER INSERT ON prospects "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION prospect_totals_insert()",
    "CREATE TRIGGER prospects_totals_delete AFTER DELETE ON prospects "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION prospect_totals_delete()",
    "CREATE TRIGGER prospects_totals_update AFTER UPDATE ON prospects "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION prospect_totals_update()",
]
PG_TOTALS_DROP = [
    "DROP TRIGGER IF EXISTS prospects_totals_insert ON prospects",
    "DROP TRIGGER IF EXISTS prospects_totals_delete ON prospects",
    "DROP TRIGGER IF EXISTS prospects_totals_update ON prospects",
    "DROP FUNCTION IF EXISTS prospect_totals_insert()",
    "DROP FUNCTION IF EXISTS prospect_totals_delete()",
    "DROP FUNCTION IF EXISTS prospect_totals_update()",
    "DROP TABLE IF EXISTS prospect_totals",
]


def _grams_back(conn: sa.Connection) -> None:
    rows = conn.execute(sa.text("SELECT id, search_text FROM prospects ORDER BY id"))
    pairs: list[dict[str, object]] = []
    insert = sa.text("INSERT INTO prospect_grams (gram, prospect_id) VALUES (:g, :p)")
    for pid, search_text in rows:
        pairs.extend({"g": gram, "p": pid} for gram in prospect_grams(search_text or ""))
        if len(pairs) >= 50_000:
            conn.execute(insert, pairs)
            pairs = []
    if pairs:
        conn.execute(insert, pairs)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS prospects_fts_{trigger}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {keyword_index.FTS_TABLE}")
        _grams_back(conn)
    else:
        for statement in PG_TOTALS_DROP:
            conn.exec_driver_sql(statement)
    op.drop_index("ix_import_jobs_source_key", table_name="import_jobs")
    with op.batch_alter_table("import_jobs") as batch:
        batch.drop_column("resume_offset")
        batch.drop_column("source_key")
        batch.drop_column("kind")
    op.drop_index("ix_prospects_corporate_number", table_name="prospects")
    with op.batch_alter_table("prospects") as batch:
        batch.drop_column("registry_updated")
        batch.drop_column("closed_at")
        batch.drop_column("corporate_number")
