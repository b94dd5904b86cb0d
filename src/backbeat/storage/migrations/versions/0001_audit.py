"""Audit trail: events, chain heads, signed checkpoints.

Revision ID: 0001_audit
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_audit"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("chain", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("resource", sa.String(500)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(200)),
        sa.Column("duration_ms", sa.Float),
        sa.Column("request_id", sa.String(100)),
        sa.Column("client_ip", sa.String(64)),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("prev_mac", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.UniqueConstraint("chain", "seq", name="uq_audit_events_chain_seq"),
    )
    for column in ("actor", "action", "resource", "timestamp"):
        op.create_index(f"ix_audit_events_{column}", "audit_events", [column])
    op.create_table(
        "audit_chain_heads",
        sa.Column("chain", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("chain", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_chain_heads")
    for column in ("actor", "action", "resource", "timestamp"):
        op.drop_index(f"ix_audit_events_{column}", "audit_events")
    op.drop_table("audit_events")
