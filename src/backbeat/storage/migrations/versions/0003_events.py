"""Listening events (``POST /v1/events``).

Revision ID: 0003_events
Revises: 0002_catalogue
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_events"
down_revision = "0002_catalogue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "listening_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("track_id", sa.String(22), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("ms_played", sa.Integer),
    )
    op.create_index("ix_listening_events_timestamp", "listening_events", ["timestamp"])


def downgrade() -> None:
    op.drop_index("ix_listening_events_timestamp", table_name="listening_events")
    op.drop_table("listening_events")
