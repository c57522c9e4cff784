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
