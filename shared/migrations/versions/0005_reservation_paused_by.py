"""who paused a reservation (member, operator or system): a system pause never auto-cancels

Revision ID: 0005_reservation_paused_by
Revises: 0004_payments
Create Date: 2026-12-03 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_reservation_paused_by"
down_revision = "0004_payments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reservations") as batch:
        batch.add_column(sa.Column("paused_by", sa.String(length=10), nullable=True))
    # A paused row takes the actor of its last pause line: none is the error threshold.
    op.execute(
        "UPDATE reservations SET paused_by = COALESCE(("
        " SELECT CASE WHEN c.actor_user_id IS NULL THEN 'system'"
        " WHEN u.role = 'operator' THEN 'operator' ELSE 'member' END"
        " FROM reservation_status_changes c LEFT JOIN users u ON u.id = c.actor_user_id"
        " WHERE c.reservation_id = reservations.id AND c.to_status = 'paused'"
        " ORDER BY c.id DESC LIMIT 1), 'member') WHERE status = 'paused'"
    )


def downgrade() -> None:
    with op.batch_alter_table("reservations") as batch:
        batch.drop_column("paused_by")
