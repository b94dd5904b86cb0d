"""Third-party credentials, encrypted.

Revision ID: 0004_credentials
Revises: 0003_events
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_credentials"
down_revision = "0003_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column("owner", sa.String(200), primary_key=True),
        sa.Column("provider", sa.String(50), primary_key=True),
        sa.Column("ciphertext", sa.Text, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("credentials")
