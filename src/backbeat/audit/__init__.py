"""Tamper-evident audit trail: ``@audited``, HMAC-chained events, signed checkpoints.

>>> from backbeat.audit import audited
>>> @audited(action="fetch_track", resource="track:{track_id}")
... async def fetch_track(track_id: str) -> dict: ...

Events go to the ``audit_events`` table of ``DATABASE_URL`` (``Toolkit.audit``
builds the trail and makes it the default); ``backbeat audit verify`` checks a
chain. See :mod:`backbeat.audit._trail` for the durability guarantee of each
mode and :mod:`backbeat.audit._verify` for what verification detects.
"""

from backbeat.audit._decorator import audit_trail, audited
from backbeat.audit._event import GENESIS, AuditEvent, canonical_details
from backbeat.audit._redact import DEFAULT_DENYLIST, Redactor
from backbeat.audit._seal import Sealer
from backbeat.audit._store import AuditStore, Checkpoint
from backbeat.audit._trail import (
    AuditContext,
    AuditSink,
    AuditTrail,
    JsonLogSink,
    audit_context,
    current_context,
    get_default_trail,
    set_default_trail,
)
from backbeat.audit._verify import VerifyReport, verify_chain

__all__ = [
    "DEFAULT_DENYLIST",
    "GENESIS",
    "AuditContext",
    "AuditEvent",
    "AuditSink",
    "AuditStore",
    "AuditTrail",
    "Checkpoint",
    "JsonLogSink",
    "Redactor",
    "Sealer",
    "VerifyReport",
    "audit_context",
    "audit_trail",
    "audited",
    "canonical_details",
    "current_context",
    "get_default_trail",
    "set_default_trail",
    "verify_chain",
]
