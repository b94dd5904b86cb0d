"""Persistence: the async engine for ``DATABASE_URL``, the schema, and its migrations.

SQLite under ``./var/`` by default, PostgreSQL (asyncpg) when configured; the
schema is managed by Alembic (``backbeat db upgrade``; ``backbeat serve`` runs
it on start for the embedded SQLite). Repositories live with the concern that
owns the data (``backbeat.audit`` for audit events) and use the tables here.
"""

from backbeat.storage._engine import create_engine, current_revision, to_async_url, upgrade
from backbeat.storage._schema import (
    analysis_jobs,
    analysis_workers,
    api_keys,
    audit_chain_heads,
    audit_checkpoints,
    audit_events,
    billing_events,
    consents,
    credentials,
    encryption_keys,
    erasures,
    listening_events,
    metadata,
    payments,
    playback_events,
    privacy_requests,
    processing_activities,
    reencryption_runs,
    subject_keys,
    subscriptions,
    suppressed_subjects,
    track_analyses,
    tracks,
    training_jobs,
    weekly_playlists,
)

__all__ = [
    "analysis_jobs",
    "analysis_workers",
    "api_keys",
    "audit_chain_heads",
    "audit_checkpoints",
    "audit_events",
    "billing_events",
    "consents",
    "create_engine",
    "credentials",
    "current_revision",
    "encryption_keys",
    "erasures",
    "listening_events",
    "metadata",
    "payments",
    "playback_events",
    "privacy_requests",
    "processing_activities",
    "reencryption_runs",
    "subject_keys",
    "subscriptions",
    "suppressed_subjects",
    "to_async_url",
    "track_analyses",
    "tracks",
    "training_jobs",
    "upgrade",
    "weekly_playlists",
]
