"""反響: reply tokens, responses, tracked links, A/B scripts and the response counters

Revision ID: 0007_responses
Revises: 0006_member_send_window
Create Date: 2026-12-04 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_responses"
down_revision = "0006_member_send_window"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reservations") as batch:
        batch.add_column(sa.Column("script_b_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_reservations_script_b_id_scripts", "scripts", ["script_b_id"], ["id"]
        )
        for name in ("auto_replies", "replies", "refusals", "clicks"):
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("send_items") as batch:
        batch.add_column(sa.Column("script_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reply_token", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("first_click_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            "fk_send_items_script_id_scripts", "scripts", ["script_id"], ["id"]
        )
        batch.create_unique_constraint("uq_send_items_reply_token", ["reply_token"])
    op.create_table(
        "responses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("send_items.id"), nullable=False),
        sa.Column("reservation_id", sa.Integer(), sa.ForeignKey("reservations.id"), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("refusal", sa.Boolean(), nullable=False),
        sa.Column("mail_from", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=True),
        sa.Column("message_id", sa.String(length=500), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("forwarded_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_responses_item_id", "responses", ["item_id"])
    op.create_index("ix_responses_reservation_id", "responses", ["reservation_id"])
    op.create_table(
        "tracked_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token", sa.String(length=40), nullable=False, unique=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("send_items.id"), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("first_click_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_tracked_links_item_id", "tracked_links", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_tracked_links_item_id", table_name="tracked_links")
    op.drop_table("tracked_links")
    op.drop_index("ix_responses_reservation_id", table_name="responses")
    op.drop_index("ix_responses_item_id", table_name="responses")
    op.drop_table("responses")
    with op.batch_alter_table("send_items") as batch:
        batch.drop_constraint("uq_send_items_reply_token", type_="unique")
        batch.drop_constraint("fk_send_items_script_id_scripts", type_="foreignkey")
        batch.drop_column("first_click_at")
        batch.drop_column("reply_token")
        batch.drop_column("script_id")
    with op.batch_alter_table("reservations") as batch:
        for name in ("clicks", "refusals", "replies", "auto_replies"):
            batch.drop_column(name)
        batch.drop_constraint("fk_reservations_script_b_id_scripts", type_="foreignkey")
        batch.drop_column("script_b_id")
