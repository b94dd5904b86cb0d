"""Privacy: consents, data-subject requests, per-subject keys, processing records, erasures.

``subject_keys`` holds one random secret per data subject; audit records name subjects
only by a keyed reference derived from it (``subj_...``), so deleting the secret at erasure
leaves the audit chain intact and its references unlinkable (crypto-shredding).
``erasures`` is the proof of what an erasure removed, by reference, never by ID;
``suppressed_subjects`` holds a keyed digest of each erased ID, so that events arriving for
an erased subject are dropped (an erasure racing new events leaves none).

Revision ID: 0011_privacy
Revises: 0010_billing
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_privacy"
down_revision = "0010_billing"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("subject_id", sa.String(200), primary_key=True),
        sa.Column("purpose", sa.String(100), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),  # given | withdrawn
        sa.Column("lawful_basis", sa.String(32), nullable=False),
        sa.Column("notice_version", sa.String(50), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("given_at", _TS),
        sa.Column("withdrawn_at", _TS),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "privacy_requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("subject_id", sa.String(200)),  # emptied once the request is closed
        sa.Column("subject_ref", sa.String(64), nullable=False),
        sa.Column("type", sa.String(24), nullable=False),
        sa.Column("jurisdiction", sa.String(8), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("email", sa.Text),  # keyring ciphertext; emptied once closed
        sa.Column("details", sa.Text),  # keyring ciphertext of JSON (rectification changes)
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("extended", sa.Boolean, nullable=False),
        sa.Column("verified_at", _TS),
        sa.Column("completed_at", _TS),
        sa.Column("token_hash", sa.String(64)),
        sa.Column("token_expires_at", _TS),
        sa.Column("token_used_at", _TS),
        sa.Column("outcome", sa.Text),  # JSON, no personal data
        sa.Column("reason", sa.String(200)),
    )
    op.create_index("ix_privacy_requests_status_due", "privacy_requests", ["status", "due_at"])
    op.create_table(
        "subject_keys",
        sa.Column("subject_id", sa.String(200), primary_key=True),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "processing_activities",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("subject_ref", sa.String(64)),
        sa.Column("data_type", sa.String(100), nullable=False),
        sa.Column("purpose", sa.String(100), nullable=False),
        sa.Column("recorded_at", _TS, nullable=False),
    )
    op.create_index(
        "ix_processing_activities_kind", "processing_activities", ["data_type", "purpose"]
    )
    op.create_table(
        "erasures",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("subject_ref", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(32)),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),  # deleted | tombstoned | purged
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(200)),
        sa.Column("erased_at", _TS, nullable=False),
    )

    op.create_table(
        "suppressed_subjects",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("erased_at", _TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("suppressed_subjects")
    op.drop_table("erasures")
    op.drop_index("ix_processing_activities_kind", table_name="processing_activities")
    op.drop_table("processing_activities")
    op.drop_table("subject_keys")
    op.drop_index("ix_privacy_requests_status_due", table_name="privacy_requests")
    op.drop_table("privacy_requests")
    op.drop_table("consents")
