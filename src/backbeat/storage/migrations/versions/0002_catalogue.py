"""Catalogue, analysis results, the analysis job queue and API keys.

Revision ID: 0002_catalogue
Revises: 0001_audit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_catalogue"
down_revision = "0001_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracks",
        sa.Column("id", sa.String(22), primary_key=True),
        sa.Column("isrc", sa.String(12)),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("artists", sa.Text, nullable=False),
        sa.Column("album", sa.String(500)),
        sa.Column("genres", sa.Text, nullable=False),
        sa.Column("popularity", sa.Integer),
        sa.Column("audio_path", sa.String(1000)),
        sa.Column("audio_sha256", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_tracks_isrc", "tracks", ["isrc"])
    op.create_table(
        "track_analyses",
        sa.Column("track_id", sa.String(22), primary_key=True),
        sa.Column("audio_sha256", sa.String(64), nullable=False),
        sa.Column("features", sa.Text, nullable=False),
        sa.Column("analysis", sa.Text, nullable=False),
        sa.Column("analyzed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "analysis_jobs",
        sa.Column("track_id", sa.String(22), primary_key=True),
        sa.Column("audio_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("error_code", sa.String(200)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_analysis_jobs_status", "analysis_jobs", ["status", "not_before"])
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_index("ix_analysis_jobs_status", table_name="analysis_jobs")
    op.drop_table("analysis_jobs")
    op.drop_table("track_analyses")
    op.drop_index("ix_tracks_isrc", table_name="tracks")
    op.drop_table("tracks")
