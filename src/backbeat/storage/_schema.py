"""The relational schema, as SQLAlchemy Core tables (migrations create it; see ``migrations/``).

Tables are added by the issue that needs them; each migration in
``migrations/versions`` is the source of truth for what exists in a database.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["audit_chain_heads", "audit_checkpoints", "audit_events", "metadata"]

metadata = sa.MetaData()

#: One row per audit event; ``(chain, seq)`` is the chain order.
audit_events = sa.Table(
    "audit_events",
    metadata,
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
    sa.Column("details", sa.Text, nullable=False),  # canonical JSON
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("prev_mac", sa.String(64), nullable=False),
    sa.Column("mac", sa.String(64), nullable=False),
    sa.UniqueConstraint("chain", "seq", name="uq_audit_events_chain_seq"),
)
sa.Index("ix_audit_events_actor", audit_events.c.actor)
sa.Index("ix_audit_events_action", audit_events.c.action)
sa.Index("ix_audit_events_resource", audit_events.c.resource)
sa.Index("ix_audit_events_timestamp", audit_events.c.timestamp)

#: The head of each chain: appends lock this row, so one chain stays one sequence.
audit_chain_heads = sa.Table(
    "audit_chain_heads",
    metadata,
    sa.Column("chain", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("mac", sa.String(64), nullable=False),
)

#: Signed (Ed25519) statements "chain C had head H at seq N".
audit_checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("chain", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("mac", sa.String(64), nullable=False),
    sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("signature", sa.String(128), nullable=False),
)
