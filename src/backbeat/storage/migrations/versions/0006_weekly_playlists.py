"""Discover Weekly playlists, one per user and ISO week; listening events indexed by user.

Revision ID: 0006_weekly_playlists
Revises: 0005_workers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_weekly_playlists"
down_revision = "0005_workers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "weekly_playlists",
        sa.Column("user_id", sa.String(200), primary_key=True),
        sa.Column("week", sa.String(8), primary_key=True),
        sa.Column("picks", sa.Text, nullable=False),
        sa.Column("model", sa.String(50), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_listening_events_user", "listening_events", ["user_id", "timestamp"])


def downgrade() -> None:
    op.drop_index("ix_listening_events_user", table_name="listening_events")
    op.drop_table("weekly_playlists")
