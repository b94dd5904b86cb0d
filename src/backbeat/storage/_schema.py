"""The relational schema, as SQLAlchemy Core tables (migrations create it; see ``migrations/``).

Tables are added by the issue that needs them; each migration in
``migrations/versions`` is the source of truth for what exists in a database.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "analysis_jobs",
    "api_keys",
    "audit_chain_heads",
    "audit_checkpoints",
    "audit_events",
    "billing_events",
    "consents",
    "credentials",
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
    "track_analyses",
    "tracks",
]

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

#: The user's catalogue: one row per track (Spotify ID as the key; ISRC optional).
tracks = sa.Table(
    "tracks",
    metadata,
    sa.Column("id", sa.String(22), primary_key=True),
    sa.Column("isrc", sa.String(12)),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("artists", sa.Text, nullable=False),  # JSON [{"id", "name"}]
    sa.Column("album", sa.String(500)),
    sa.Column("genres", sa.Text, nullable=False),  # JSON [str]
    sa.Column("popularity", sa.Integer),
    sa.Column("audio_path", sa.String(1000)),  # relative to <data_dir>/media
    sa.Column("audio_sha256", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_tracks_isrc", tracks.c.isrc)
sa.Index("ix_tracks_updated_at", tracks.c.updated_at)  # the catalogue fingerprint's max()

#: Analysis results for a track's current audio (keyed by the audio's hash).
track_analyses = sa.Table(
    "track_analyses",
    metadata,
    sa.Column("track_id", sa.String(22), primary_key=True),
    sa.Column("audio_sha256", sa.String(64), nullable=False),
    sa.Column("features", sa.Text, nullable=False),  # JSON audio-features fields
    sa.Column("analysis", sa.Text, nullable=False),  # JSON audio-analysis object
    sa.Column("analyzed_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_track_analyses_analyzed_at", track_analyses.c.analyzed_at)

#: The analysis job queue of the embedded worker: state, attempts and a lease, so a
#: job whose worker died is picked up again once its lease expires.
analysis_jobs = sa.Table(
    "analysis_jobs",
    metadata,
    sa.Column("track_id", sa.String(22), primary_key=True),
    sa.Column("audio_sha256", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # queued | running | done | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("error_code", sa.String(200)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_analysis_jobs_status", analysis_jobs.c.status, analysis_jobs.c.not_before)

#: API keys: the public id and an HMAC of the secret, never the key itself.
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("scopes", sa.String(200), nullable=False),  # comma-separated
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)

#: Listening events posted to ``/v1/events``: what recommendation training reads.
listening_events = sa.Table(
    "listening_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("user_id", sa.String(200), nullable=False),
    sa.Column("track_id", sa.String(22), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),  # epoch seconds
    sa.Column("ms_played", sa.Integer),
)
sa.Index("ix_listening_events_timestamp", listening_events.c.timestamp)
# Per-user reads (top tracks, recently played, Discover Weekly): migration 0006.
sa.Index("ix_listening_events_user", listening_events.c.user_id, listening_events.c.timestamp)

#: Third-party credentials (e.g. a user's Spotify OAuth tokens), encrypted with the keyring.
credentials = sa.Table(
    "credentials",
    metadata,
    sa.Column("owner", sa.String(200), primary_key=True),
    sa.Column("provider", sa.String(50), primary_key=True),
    # Keyring.encrypt_text of the JSON token set, bound to owner and provider (AEAD data).
    sa.Column("ciphertext", sa.Text, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

#: Analysis workers' heartbeats: one row per running worker process, refreshed while it
#: runs, so ``/health`` can say which workers are alive and what they have done.
analysis_workers = sa.Table(
    "analysis_workers",
    metadata,
    sa.Column("worker_id", sa.String(100), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),  # embedded | database | redis
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("processed", sa.Integer, nullable=False),
)

#: Discover Weekly playlists as generated: one per user and ISO week, so the playlist
#: stays the same all week whatever the models do meanwhile. Holds per-user data:
#: erasure of a subject must delete these rows too.
weekly_playlists = sa.Table(
    "weekly_playlists",
    metadata,
    sa.Column("user_id", sa.String(200), primary_key=True),
    sa.Column("week", sa.String(8), primary_key=True),  # YYYY-Www
    sa.Column("picks", sa.Text, nullable=False),  # JSON: [{"track", "seeds", "source"}]
    sa.Column("model", sa.String(50), nullable=False),  # what generated it (v<n> / content)
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

#: Model training jobs (``POST /v1/admin/models/train``, scheduled retrains): the same
#: queue discipline as analysis jobs (compare-and-set claims, leases, backoff).
training_jobs = sa.Table(
    "training_jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),  # the registry's model name
    sa.Column("recipe", sa.Text, nullable=False),  # JSON, see backbeat.recommend.build_recipe
    sa.Column("promote", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # queued | running | done | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("error_code", sa.String(200)),
    sa.Column("result", sa.Text),  # JSON: version, promoted, score, production_score, reason
    sa.Column("requested_by", sa.String(200)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_training_jobs_status", training_jobs.c.status, training_jobs.c.not_before)

#: Master keys' shared bookkeeping (never key material): state and how many data keys each
#: has wrapped, so every process applies the same rotation policy (migration 0008).
encryption_keys = sa.Table(
    "encryption_keys",
    metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("provider", sa.String(16), nullable=False),  # local | pkcs11
    sa.Column("state", sa.String(16), nullable=False),  # active | retired | destroyed
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("retired_at", sa.DateTime(timezone=True)),
    sa.Column("encryptions", sa.BigInteger, nullable=False),
)

#: Re-encryption runs after a rotation: one row per run, its lease (owner, heartbeat) and
#: its cursor per table, so a killed run resumes where it stopped (migration 0008).
reencryption_runs = sa.Table(
    "reencryption_runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("target_key_id", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # running | completed | failed
    sa.Column("owner", sa.String(255), nullable=False),  # host:pid
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("cursor", sa.Text, nullable=False),  # JSON {table: last key done}
    sa.Column("examined", sa.Integer, nullable=False),
    sa.Column("rewritten", sa.Integer, nullable=False),
    sa.Column("error_code", sa.String(200)),
)

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")

#: Subscriptions from ``POST /v1/billing/events`` (migration 0010): ``price`` per month in
#: ``currency``; times in epoch seconds; ``ended_at`` empty while active.
subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("user_id", sa.String(200), nullable=False),
    sa.Column("plan", sa.String(100), nullable=False),
    sa.Column("price", sa.Numeric(14, 4), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
)
sa.Index("ix_subscriptions_user", subscriptions.c.user_id, subscriptions.c.started_at)

#: Charges and refunds (``amount`` never negative; ``kind`` is ``charge`` or ``refund``).
payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("user_id", sa.String(200), nullable=False),
    sa.Column("amount", sa.Numeric(14, 4), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("paid_at", sa.Float, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("subscription_id", _ID),
)
sa.Index("ix_payments_user", payments.c.user_id, payments.c.paid_at)
sa.Index("ix_payments_paid_at", payments.c.paid_at)

#: One row per idempotency key: the request's digest and the answer it got.
billing_events = sa.Table(
    "billing_events",
    metadata,
    sa.Column("idempotency_key", sa.String(200), primary_key=True),
    sa.Column("event_type", sa.String(16), nullable=False),
    sa.Column("user_id", sa.String(200), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("result", sa.Text, nullable=False),
)

_TS = sa.DateTime(timezone=True)

#: Consent per subject and purpose (migration 0011): the current state and its times.
consents = sa.Table(
    "consents",
    metadata,
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

#: Data-subject requests (GDPR Art. 15-21, CCPA): status, deadlines, the verification token's
#: hash; the subject's ID and e-mail are emptied once the request is closed.
privacy_requests = sa.Table(
    "privacy_requests",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("subject_id", sa.String(200)),
    sa.Column("subject_ref", sa.String(64), nullable=False),
    sa.Column("type", sa.String(24), nullable=False),
    sa.Column("jurisdiction", sa.String(8), nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("email", sa.Text),
    sa.Column("details", sa.Text),
    sa.Column("received_at", _TS, nullable=False),
    sa.Column("due_at", _TS, nullable=False),
    sa.Column("extended", sa.Boolean, nullable=False),
    sa.Column("verified_at", _TS),
    sa.Column("completed_at", _TS),
    sa.Column("token_hash", sa.String(64)),
    sa.Column("token_expires_at", _TS),
    sa.Column("token_used_at", _TS),
    sa.Column("outcome", sa.Text),
    sa.Column("reason", sa.String(200)),
)
sa.Index("ix_privacy_requests_status_due", privacy_requests.c.status, privacy_requests.c.due_at)

#: One random secret per subject: audit records name subjects by a reference keyed with it.
subject_keys = sa.Table(
    "subject_keys",
    metadata,
    sa.Column("subject_id", sa.String(200), primary_key=True),
    sa.Column("secret", sa.String(64), nullable=False),
    sa.Column("created_at", _TS, nullable=False),
)

#: ``log_processing_activity`` calls (Art. 30 records), subjects by reference.
processing_activities = sa.Table(
    "processing_activities",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("subject_ref", sa.String(64)),
    sa.Column("data_type", sa.String(100), nullable=False),
    sa.Column("purpose", sa.String(100), nullable=False),
    sa.Column("recorded_at", _TS, nullable=False),
)
sa.Index(
    "ix_processing_activities_kind",
    processing_activities.c.data_type,
    processing_activities.c.purpose,
)

#: What each erasure removed, per category (the proof), by subject reference.
erasures = sa.Table(
    "erasures",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("subject_ref", sa.String(64), nullable=False),
    sa.Column("request_id", sa.String(32)),
    sa.Column("category", sa.String(100), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("reason", sa.String(200)),
    sa.Column("erased_at", _TS, nullable=False),
)

#: Keyed digests of erased subjects: their new events are dropped on arrival.
suppressed_subjects = sa.Table(
    "suppressed_subjects",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("erased_at", _TS, nullable=False),
)

#: Players' playback events (migration 0012): sessions, never users.
playback_events = sa.Table(
    "playback_events",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("session_id", sa.String(64), nullable=False),
    sa.Column("track_id", sa.String(22), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("position_s", sa.Float),
    sa.Column("bitrate_kbps", sa.Float),
    sa.Column("rendition", sa.String(32)),
    sa.Column("error_code", sa.String(100)),
)
sa.Index("ix_playback_events_session", playback_events.c.session_id, playback_events.c.at)
sa.Index("ix_playback_events_at", playback_events.c.at)
