"""card payments through a gateway: the order's Checkout Session, PaymentIntent, gateway status
and refund; the gateway events applied (one row per event id)

Revision ID: 0004_payments
Revises: 0003_prospect_fingerprint
Create Date: 2026-12-03 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_payments"
down_revision = "0003_prospect_fingerprint"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket_orders") as batch:
        batch.add_column(
            sa.Column("gateway", sa.String(length=20), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("checkout_session_id", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("checkout_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("payment_intent_id", sa.String(length=255), nullable=True))
        batch.add_column(
            sa.Column("gateway_status", sa.String(length=30), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("refund_reference", sa.String(length=255), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_unique_constraint(
            "uq_ticket_orders_checkout_session_id", ["checkout_session_id"]
        )
        batch.create_index("ix_ticket_orders_payment_intent_id", ["payment_intent_id"])
    # The test gateway was the only one before this revision.
    op.execute("UPDATE ticket_orders SET gateway = 'test' WHERE payment_method = 'card'")

    op.create_table(
        "payment_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["ticket_orders.id"], name="fk_payment_events_order_id_ticket_orders"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_payment_events"),
        sa.UniqueConstraint("event_id", name="uq_payment_events_event_id"),
    )
    op.create_index("ix_payment_events_order_id", "payment_events", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_payment_events_order_id", table_name="payment_events")
    op.drop_table("payment_events")
    with op.batch_alter_table("ticket_orders") as batch:
        batch.drop_index("ix_ticket_orders_payment_intent_id")
        batch.drop_constraint("uq_ticket_orders_checkout_session_id", type_="unique")
        for column in (
            "refunded_at",
            "refund_reference",
            "gateway_status",
            "payment_intent_id",
            "checkout_url",
            "checkout_session_id",
            "gateway",
        ):
            batch.drop_column(column)
