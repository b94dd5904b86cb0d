"""Subscriptions, payments and the billing events that wrote them (``POST /v1/billing/events``).

Times are epoch seconds (as in ``listening_events``); amounts are decimal, in ``currency``'s
unit, never negative (``kind`` says a payment is a refund). ``billing_events`` keeps each
idempotency key with a digest of its request and the answer given, so a retried request is
answered the same and a reused key with another request is refused.

Revision ID: 0010_billing
Revises: 0009_fingerprint_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_billing"
down_revision = "0009_fingerprint_indexes"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("plan", sa.String(100), nullable=False),
        sa.Column("price", sa.Numeric(14, 4), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
    )
    op.create_index("ix_subscriptions_user", "subscriptions", ["user_id", "started_at"])
    op.create_table(
        "payments",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("amount", sa.Numeric(14, 4), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("paid_at", sa.Float, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("subscription_id", _ID),
    )
    op.create_index("ix_payments_user", "payments", ["user_id", "paid_at"])
    op.create_index("ix_payments_paid_at", "payments", ["paid_at"])
    op.create_table(
        "billing_events",
        sa.Column("idempotency_key", sa.String(200), primary_key=True),
        sa.Column("event_type", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("billing_events")
    op.drop_index("ix_payments_paid_at", table_name="payments")
    op.drop_index("ix_payments_user", table_name="payments")
    op.drop_table("payments")
    op.drop_index("ix_subscriptions_user", table_name="subscriptions")
    op.drop_table("subscriptions")
