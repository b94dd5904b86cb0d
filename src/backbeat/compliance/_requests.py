"""Data-subject requests: what a request is, and its life from opening to completion.

The functions take the :class:`~backbeat.compliance.GdprCompliance` they work for (its
database, keyring, mailer, clock and audit trail); its methods of the same names call them.
A request moves ``pending_verification -> verified -> in_progress -> completed`` (or
``rejected``), each step audited by subject reference. The e-mailed code is
``<nonce>.<signature>.<expiry>``: HMAC-SHA-256 over the request id, nonce and expiry with a
key derived from the keyring; expiring; single use (only the nonce's hash is stored).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import os
import secrets
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

from backbeat.compliance._policy import JURISDICTIONS, due_date
from backbeat.errors import BackbeatError, NotFound, SecurityError, ValidationError
from backbeat.storage import privacy_requests

if TYPE_CHECKING:
    from backbeat.compliance._service import GdprCompliance

__all__ = [
    "OPEN",
    "REQUEST_TYPES",
    "ConsentRequired",
    "ErasureReport",
    "PrivacyConflict",
    "PrivacyRequest",
]

#: request type -> what is done; CCPA's names are aliases
REQUEST_TYPES = {
    "access": "access",
    "portability": "portability",
    "rectification": "rectification",
    "erasure": "erasure",
    "restriction": "restriction",
    "objection": "objection",
    "know": "access",
    "delete": "erasure",
    "correct": "rectification",
    "opt_out": "objection",
}
OPEN = ("pending_verification", "verified", "in_progress")


class PrivacyConflict(BackbeatError):
    default_code = "privacy.conflict"
    default_message = "The privacy request cannot be processed in its state."
    http_status: ClassVar[int] = 409


class ConsentRequired(BackbeatError):
    """Processing for a purpose the subject has not consented to (or withdrew from)."""

    default_code = "privacy.consent_required"
    default_message = "No consent for {purpose}: this processing may not run for this user."
    http_status: ClassVar[int] = 403


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _iso(value: dt.datetime | None) -> str | None:
    aware = _aware(value)
    return aware.isoformat() if aware is not None else None


@dataclass
class PrivacyRequest:
    id: str
    type: str
    jurisdiction: str
    status: str
    received_at: dt.datetime
    due_at: dt.datetime
    extended: bool = False
    verified_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    outcome: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None

    def overdue(self, now: dt.datetime) -> bool:
        return self.status in OPEN and self.due_at < now

    def to_dict(self) -> dict[str, Any]:
        def iso(v: dt.datetime | None) -> str | None:
            return v.isoformat() if v else None

        return {
            "id": self.id,
            "type": self.type,
            "jurisdiction": self.jurisdiction,
            "status": self.status,
            "received_at": iso(self.received_at),
            "due_at": iso(self.due_at),
            "extended": self.extended,
            "verified_at": iso(self.verified_at),
            "completed_at": iso(self.completed_at),
            "outcome": self.outcome,
            "reason": self.reason,
        }


@dataclass
class ErasureReport:
    subject_ref: str
    categories: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"subject_ref": self.subject_ref, "categories": self.categories}


def _request(row: Any) -> PrivacyRequest:
    m = row._mapping
    return PrivacyRequest(
        id=m["id"],
        type=m["type"],
        jurisdiction=m["jurisdiction"],
        status=m["status"],
        received_at=_aware(m["received_at"]) or _now(),
        due_at=_aware(m["due_at"]) or _now(),
        extended=bool(m["extended"]),
        verified_at=_aware(m["verified_at"]),
        completed_at=_aware(m["completed_at"]),
        outcome=json.loads(m["outcome"]) if m["outcome"] else {},
        reason=m["reason"],
    )


def _sign(gdpr: GdprCompliance, request_id: str, nonce: str, expires: int) -> str:
    message = f"{request_id}.{nonce}.{expires}".encode()
    return hmac.new(gdpr._token_key, message, hashlib.sha256).hexdigest()[:32]


async def process_data_subject_request(
    gdpr: GdprCompliance,
    user_id: str,
    request_type: str,
    verification_method: str = "email_token",
    *,
    email: str | None = None,
    jurisdiction: str = "gdpr",
    changes: dict[str, Any] | None = None,
) -> PrivacyRequest:
    """Open a request and mail its verification token; it is carried out once
    :meth:`verify_request` gets the token."""
    kind = REQUEST_TYPES.get(request_type)
    if kind is None:
        raise ValidationError(
            "privacy.request_type",
            details={"value": request_type[:40], "known": ", ".join(REQUEST_TYPES)},
            message="Unknown request type {value!r}: use {known}.",
        )
    if verification_method != "email_token":
        raise ValidationError(
            "privacy.verification_method",
            details={"value": verification_method[:40]},
            message="Unknown verification method {value!r}: use email_token.",
        )
    if jurisdiction not in JURISDICTIONS:
        raise ValidationError(
            "privacy.jurisdiction",
            details={"value": jurisdiction[:20], "known": ", ".join(JURISDICTIONS)},
            message="Unknown jurisdiction {value!r}: use {known}.",
        )
    if not email or "@" not in email:
        raise ValidationError(
            "privacy.email_required",
            details={"field": "email"},
            message="An e-mail address ({field}) is needed to verify the request.",
        )
    if kind == "rectification" and not changes:
        raise ValidationError(
            "privacy.changes_required",
            details={"field": "changes"},
            message="A rectification request needs the corrections ({field}).",
        )
    now = gdpr.clock()
    request_id = secrets.token_hex(16)
    nonce = secrets.token_urlsafe(18)
    expires = now + gdpr.token_ttl
    stamp = int(expires.timestamp())
    token = f"{nonce}.{_sign(gdpr, request_id, nonce, stamp)}.{stamp}"
    ref = await gdpr.subject_ref(user_id)
    sealed = gdpr.keyring.encrypt_text(email, associated_data=request_id.encode())
    details = (
        gdpr.keyring.encrypt_text(json.dumps(changes), associated_data=request_id.encode())
        if changes
        else None
    )
    async with gdpr.engine.begin() as conn:
        await conn.execute(
            privacy_requests.insert().values(
                id=request_id,
                subject_id=user_id,
                subject_ref=ref,
                type=kind,
                jurisdiction=jurisdiction,
                status="pending_verification",
                email=sealed,
                details=details,
                received_at=now,
                due_at=due_date(now, jurisdiction),
                extended=False,
                token_hash=hashlib.sha256(nonce.encode()).hexdigest(),
                token_expires_at=expires,
            )
        )
    await gdpr.mailer.send(
        email,
        "Confirm your privacy request",
        "Someone asked for the following about your account:\n"
        f"  request: {kind}\n  reference: {request_id}\n\n"
        "If it was you, confirm it with this code within "
        f"{int(gdpr.token_ttl.total_seconds() // 3600)} hours:\n\n"
        f"  code: {token}\n\n"
        "If it was not you, ignore this message: nothing will happen.\n",
    )
    await gdpr._audit("privacy.request.received", ref, {"request": request_id, "type": kind})
    return await get_request(gdpr, request_id)


async def get_request(gdpr: GdprCompliance, request_id: str) -> PrivacyRequest:
    async with gdpr.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(privacy_requests).where(privacy_requests.c.id == request_id)
            )
        ).first()
    if row is None:
        raise NotFound(
            "privacy.request_not_found",
            details={"request": request_id[:40]},
            message="No privacy request {request}.",
        )
    return _request(row)


async def list_requests(
    gdpr: GdprCompliance, *, overdue: bool = False, due_within: dt.timedelta | None = None
) -> list[PrivacyRequest]:
    """Requests, oldest first; ``overdue``: open ones past their due date;
    ``due_within``: open ones due before then."""
    r = privacy_requests.c
    query = sa.select(privacy_requests).order_by(r.received_at)
    now = gdpr.clock()
    if overdue or due_within is not None:
        limit = now if overdue else now + (due_within or dt.timedelta(0))
        query = query.where(r.status.in_(OPEN), r.due_at < limit)
    async with gdpr.engine.connect() as conn:
        return [_request(row) for row in await conn.execute(query)]


def _token_error(code: str, request_id: str) -> SecurityError:
    details = {"request": request_id[:40]}
    if code == "privacy.token_used":
        return SecurityError(
            "privacy.token_used",
            details=details,
            message="This verification code was already used.",
        )
    if code == "privacy.token_expired":
        return SecurityError(
            "privacy.token_expired",
            details=details,
            message="This verification code has expired: make the request again.",
        )
    return SecurityError(
        "privacy.token_invalid", details=details, message="This verification code is not valid."
    )


async def _refuse_token(gdpr: GdprCompliance, request_id: str, code: str) -> SecurityError:
    request = None
    async with gdpr.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(privacy_requests.c.subject_ref).where(privacy_requests.c.id == request_id)
            )
        ).first()
        request = row[0] if row else "unknown"
    await gdpr._audit("privacy.request.verify", request, {"request": request_id[:40]}, error=code)
    return _token_error(code, request_id)


async def verify_request(gdpr: GdprCompliance, request_id: str, token: str) -> PrivacyRequest:
    """Check the e-mailed token, then carry the request out."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise await _refuse_token(gdpr, request_id, "privacy.token_invalid")
    nonce, signature, expires_text = parts
    if not (expires_text.isascii() and expires_text.isdigit()) or not hmac.compare_digest(
        signature.encode(), _sign(gdpr, request_id, nonce, int(expires_text)).encode()
    ):
        raise await _refuse_token(gdpr, request_id, "privacy.token_invalid")
    now = gdpr.clock()
    r = privacy_requests.c
    async with gdpr.engine.begin() as conn:
        row = (await conn.execute(sa.select(privacy_requests).where(r.id == request_id))).first()
        if row is None:
            raise await _refuse_token(gdpr, request_id, "privacy.token_invalid")
        m = row._mapping
        if m["token_used_at"] is not None or m["status"] != "pending_verification":
            raise await _refuse_token(gdpr, request_id, "privacy.token_used")
        expires = _aware(m["token_expires_at"])
        if expires is None or expires < now or int(expires_text) < int(now.timestamp()):
            raise await _refuse_token(gdpr, request_id, "privacy.token_expired")
        digest = hashlib.sha256(nonce.encode()).hexdigest()
        if not hmac.compare_digest(digest, m["token_hash"] or ""):
            raise await _refuse_token(gdpr, request_id, "privacy.token_invalid")
        claimed = await conn.execute(
            privacy_requests.update()
            .where(r.id == request_id, r.token_used_at.is_(None))
            .values(token_used_at=now, verified_at=now, status="verified")
        )
        if claimed.rowcount != 1:  # pragma: no cover - a concurrent use won
            raise await _refuse_token(gdpr, request_id, "privacy.token_used")
    await gdpr._audit("privacy.request.verified", m["subject_ref"], {"request": request_id})
    return await _carry_out(gdpr, request_id)


async def _set_status(gdpr: GdprCompliance, request_id: str, status: str, **values: Any) -> None:
    async with gdpr.engine.begin() as conn:
        await conn.execute(
            privacy_requests.update()
            .where(privacy_requests.c.id == request_id)
            .values(status=status, **values)
        )


async def _carry_out(gdpr: GdprCompliance, request_id: str) -> PrivacyRequest:
    async with gdpr.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(privacy_requests).where(privacy_requests.c.id == request_id)
            )
        ).first()
    assert row is not None
    m = row._mapping
    subject, ref, kind = m["subject_id"], m["subject_ref"], m["type"]
    await _set_status(gdpr, request_id, "in_progress")
    await gdpr._audit("privacy.request.in_progress", ref, {"request": request_id})
    try:
        if kind in ("access", "portability"):
            archive = await gdpr.export_subject(subject)
            folder = gdpr.data_dir / "privacy" / "exports"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{request_id}.zip"
            path.write_bytes(archive)
            os.chmod(path, 0o600)
            counts = json.loads(zipfile.ZipFile(io.BytesIO(archive)).read("manifest.json"))
            outcome: dict[str, Any] = {
                "export": f"{request_id}.zip",
                "rows": {c["category"]: c["rows"] for c in counts["categories"]},
            }
        elif kind == "erasure":
            report = await gdpr.erase_subject(subject, request_id=request_id)
            outcome = {
                "erased": {k: v["rows"] for k, v in report.categories.items()},
            }
        elif kind == "rectification":
            changes = json.loads(
                gdpr.keyring.decrypt(m["details"], associated_data=request_id.encode())
            )
            outcome = {"rectified": await gdpr.rectify_subject(subject, changes)}
        else:  # restriction, objection: processing stops for every purpose on record
            outcome = {"withdrawn": await gdpr._withdraw_all(subject, source=request_id)}
    except BackbeatError as exc:
        await _set_status(
            gdpr, request_id, "rejected", completed_at=gdpr.clock(), reason=exc.code[:200]
        )
        await gdpr._audit("privacy.request.rejected", ref, {"request": request_id}, error=exc.code)
        raise
    closed: dict[str, Any] = {"completed_at": gdpr.clock(), "outcome": json.dumps(outcome)}
    if kind == "erasure":
        closed.update(subject_id=None, email=None, details=None)
    await _set_status(gdpr, request_id, "completed", **closed)
    await gdpr._audit("privacy.request.completed", ref, {"request": request_id, "type": kind})
    return await get_request(gdpr, request_id)


async def extend_request(gdpr: GdprCompliance, request_id: str, reason: str) -> PrivacyRequest:
    """Use the extension the law allows (GDPR two months, CCPA 45 days), with the reason."""
    request = await get_request(gdpr, request_id)
    if request.status not in OPEN or request.extended:
        raise PrivacyConflict(
            "privacy.cannot_extend",
            details={"request": request_id, "status": request.status},
            message="Request {request} ({status}) cannot be extended.",
        )
    due = due_date(request.received_at, request.jurisdiction, extended=True)
    async with gdpr.engine.begin() as conn:
        await conn.execute(
            privacy_requests.update()
            .where(privacy_requests.c.id == request_id)
            .values(due_at=due, extended=True, reason=reason[:200])
        )
    return await get_request(gdpr, request_id)


async def export_path(gdpr: GdprCompliance, request_id: str) -> Path:
    request = await get_request(gdpr, request_id)
    path = gdpr.data_dir / "privacy" / "exports" / f"{request_id}.zip"
    if request.status != "completed" or not path.exists():
        raise PrivacyConflict(
            "privacy.export_not_ready",
            details={"request": request_id, "status": request.status},
            message="Request {request} has no export ({status}).",
        )
    return path
