"""Master keys' usage counters and resumable re-encryption runs.

Revision ID: 0008_encryption_keys
Revises: 0007_training_jobs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_encryption_keys"
down_revision = "0007_training_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "encryption_keys",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
        sa.Column("encryptions", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "reencryption_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("target_key_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("cursor", sa.Text, nullable=False),
        sa.Column("examined", sa.Integer, nullable=False),
        sa.Column("rewritten", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(200)),
    )


def downgrade() -> None:
    op.drop_table("reencryption_runs")
    op.drop_table("encryption_keys")
