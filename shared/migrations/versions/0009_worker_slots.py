"""fleet_workers report their browser slots (offered, in use)

Revision ID: 0009_worker_slots
Revises: 0008_corporate_number
Create Date: 2026-12-04 02:50:00

Each worker process runs as many browser slots as its host allows (worker/slots.py); the
heartbeat says how many it offers and how many are busy, for the フリート page.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_worker_slots"
down_revision = "0008_corporate_number"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fleet_workers") as batch:
        batch.add_column(sa.Column("slots", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("slots_in_use", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("fleet_workers") as batch:
        batch.drop_column("slots_in_use")
        batch.drop_column("slots")
