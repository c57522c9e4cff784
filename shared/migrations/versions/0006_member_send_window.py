"""a member's default send window (送信時間帯), offered on the reservation form

Revision ID: 0006_member_send_window
Revises: 0005_reservation_paused_by
Create Date: 2026-12-03 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_member_send_window"
down_revision = "0005_reservation_paused_by"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("default_send_window", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.drop_column("default_send_window")
