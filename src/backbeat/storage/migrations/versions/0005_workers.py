"""Analysis workers' heartbeats.

Revision ID: 0005_workers
Revises: 0004_credentials
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_workers"
down_revision = "0004_credentials"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analysis_workers",
        sa.Column("worker_id", sa.String(100), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("analysis_workers")
