"""prospects without a URL get a fingerprint, so that importing them again finds them

Revision ID: 0003_prospect_fingerprint
Revises: 0002_import_progress_at
Create Date: 2026-11-28 16:40:00

The fingerprints of the prospects already there are computed here: the first of each set of
identical URL-less rows gets it; later copies keep none (they stay as they are, and a new
import no longer adds more).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.models import prospect_fingerprint

revision = "0003_prospect_fingerprint"
down_revision = "0002_import_progress_at"
branch_labels = None
depends_on = None

BATCH = 5_000


def upgrade() -> None:
    with op.batch_alter_table("prospects") as batch:
        batch.add_column(sa.Column("fingerprint", sa.String(length=40), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, company, prefecture, city, address, phone FROM prospects "
            "WHERE domain IS NULL ORDER BY id"
        )
    )
    seen: set[str] = set()
    updates: list[dict[str, object]] = []
    for pid, company, prefecture, city, address, phone in rows:
        key = prospect_fingerprint(None, company, prefecture, city, address, phone)
        if key is None or key in seen:
            continue
        seen.add(key)
        updates.append({"id": pid, "fp": key})
    for start in range(0, len(updates), BATCH):
        conn.execute(
            sa.text("UPDATE prospects SET fingerprint = :fp WHERE id = :id"),
            updates[start : start + BATCH],
        )
    # An index, not a constraint: SQLite adds it without copying the table. Partial: the rows
    # with a URL (most of them) have no fingerprint and stay out of it.
    where = sa.text("fingerprint IS NOT NULL")
    op.create_index(
        op.f("ix_prospects_fingerprint"),
        "prospects",
        ["fingerprint"],
        unique=True,
        sqlite_where=where,
        postgresql_where=where,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_prospects_fingerprint"), table_name="prospects")
    with op.batch_alter_table("prospects") as batch:
        batch.drop_column("fingerprint")
