"""``AuditEvent`` and its canonical form (what the MAC covers)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["GENESIS", "AuditEvent", "canonical_details", "format_timestamp"]

#: ``prev_mac`` of the first event of a chain.
GENESIS = "0" * 64
Outcome = Literal["success", "failure"]


def format_timestamp(ts: dt.datetime) -> str:
    """UTC, microseconds, ``Z``: the one spelling used in MACs (naive means UTC)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.UTC)
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_details(details: Mapping[str, Any]) -> str:
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audited action. ``seq``, ``key_id``, ``prev_mac`` and ``mac`` are set on append.

    ``details`` is the canonical JSON text (see :func:`canonical_details`), kept as
    stored so verification MACs exactly what the database holds.

    ``subject``: the end user the event is about, if any. It is never stored: a trail with
    a subject resolver (the Toolkit's, from privacy compliance) replaces the ID wherever it
    appears in ``actor``, ``resource`` and ``details`` by the subject's erasable reference
    (``subj_...``) before sealing, so erasing the subject leaves the chain verifiable and
    their ID nowhere in it.
    """

    action: str
    actor: str | None = None
    resource: str | None = None
    outcome: Outcome = "success"
    error_code: str | None = None
    duration_ms: float | None = None
    request_id: str | None = None
    client_ip: str | None = None
    details: str = "{}"
    chain: str = "default"
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    timestamp: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    seq: int = 0
    key_id: str = ""
    prev_mac: str = ""
    mac: str = ""
    subject: str | None = field(default=None, compare=False)

    @property
    def details_dict(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.details)
        return value

    def canonical(self) -> bytes:
        """The bytes the MAC covers: every field but ``mac``, in a fixed order."""
        fields = [
            1,  # format version
            self.id,
            self.chain,
            self.seq,
            format_timestamp(self.timestamp),
            self.actor,
            self.action,
            self.resource,
            self.outcome,
            self.error_code,
            self.duration_ms,
            self.request_id,
            self.client_ip,
            self.details,
            self.key_id,
            self.prev_mac,
        ]
        return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()

    def sealed(self, *, seq: int, key_id: str, prev_mac: str, mac: str) -> AuditEvent:
        return dataclasses.replace(self, seq=seq, key_id=key_id, prev_mac=prev_mac, mac=mac)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (timestamp as ISO 8601 UTC, details decoded)."""
        d = dataclasses.asdict(self)
        d.pop("subject")
        d["timestamp"] = format_timestamp(self.timestamp)
        d["details"] = self.details_dict
        return d
