"""Playback telemetry (``POST /v1/playback/telemetry``): players' events by session.

No user ID is stored: a session is the player's own random ID, tied to a track.

Revision ID: 0012_playback
Revises: 0011_privacy
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_playback"
down_revision = "0011_privacy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "playback_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("track_id", sa.String(22), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("at", sa.Float, nullable=False),  # epoch seconds, the player's clock
        sa.Column("position_s", sa.Float),
        sa.Column("bitrate_kbps", sa.Float),
        sa.Column("rendition", sa.String(32)),
        sa.Column("error_code", sa.String(100)),
    )
    op.create_index("ix_playback_events_session", "playback_events", ["session_id", "at"])
    op.create_index("ix_playback_events_at", "playback_events", ["at"])


def downgrade() -> None:
    op.drop_index("ix_playback_events_at", table_name="playback_events")
    op.drop_index("ix_playback_events_session", table_name="playback_events")
    op.drop_table("playback_events")
