"""Model training jobs.

Revision ID: 0007_training_jobs
Revises: 0006_weekly_playlists
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_training_jobs"
down_revision = "0006_weekly_playlists"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("recipe", sa.Text, nullable=False),
        sa.Column("promote", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("error_code", sa.String(200)),
        sa.Column("result", sa.Text),
        sa.Column("requested_by", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_training_jobs_status", "training_jobs", ["status", "not_before"])


def downgrade() -> None:
    op.drop_index("ix_training_jobs_status", table_name="training_jobs")
    op.drop_table("training_jobs")
