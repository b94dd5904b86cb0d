"""``GdprCompliance``: data-subject requests, consent, records of processing, retention and
provable erasure over the data map (the seed's ``create_gdpr_compliance()``).

Requests (GDPR Art. 15-18, 20, 21; CCPA know, delete, correct, opt-out) move
``pending_verification -> verified -> in_progress -> completed`` (or ``rejected``), each
transition audited by subject reference. Verification is by e-mail: a code
``<nonce>.<signature>.<expiry>`` (HMAC-SHA-256 over the request id, nonce and expiry with a
key derived from the keyring; expiring; single use: only the nonce's hash is stored).
Creating a request answers the same whether the subject exists or not; what is found is
said only after verification.

Subjects appear in audit records and processing records only as ``subj_<ref>``: an HMAC of
the ID under a random per-subject secret (``subject_keys``). Erasure deletes the secret
last, after every category, so the references left in the tamper-evident trail can no
longer be tied to anyone while the chain still verifies.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import secrets
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from backbeat.compliance._datamap import DataCategory, DataMap, Erased
from backbeat.compliance._mail import Mailer
from backbeat.compliance._own import USER_CACHE_PREFIX, register_own
from backbeat.compliance._policy import JURISDICTIONS, due_date
from backbeat.errors import BackbeatError, NotFound, SecurityError, ValidationError
from backbeat.storage import (
    consents,
    erasures,
    privacy_requests,
    processing_activities,
    subject_keys,
    suppressed_subjects,
)

__all__ = [
    "REQUEST_TYPES",
    "ConsentRequired",
    "ErasureReport",
    "GdprCompliance",
    "PrivacyConflict",
    "PrivacyRequest",
    "create_gdpr_compliance",
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


class GdprCompliance:
    """Privacy operations over ``engine``'s database and the registered data map."""

    def __init__(
        self,
        engine: AsyncEngine,
        keyring: Any,
        *,
        data_dir: Path,
        mailer: Mailer | None = None,
        cache: Any = None,
        audit: Any = None,
        redis: Any = None,
        models: Path | None = None,
        clock: Callable[[], dt.datetime] = _now,
        token_ttl: dt.timedelta = dt.timedelta(hours=24),
        retention: dict[str, str] | None = None,
    ) -> None:
        self.engine = engine
        self.keyring = keyring
        self.data_dir = data_dir
        self.mailer = mailer or Mailer(outbox=data_dir / "outbox")
        self.cache = cache
        self.audit = audit
        self.redis = redis
        self.models = models
        self.clock = clock
        self.token_ttl = token_ttl
        self._token_key = keyring.derive(b"backbeat privacy request token")[1]
        self._tombstone_key = keyring.derive(b"backbeat privacy tombstone")[1]
        self._suppress_key = keyring.derive(b"backbeat privacy suppression")[1]
        self.datamap = DataMap()
        # first: it reads the addresses that erasing privacy_requests empties
        self.datamap.register(
            DataCategory(
                "outbox",
                "Mail sent to the user (verification codes), while undelivered or kept",
                f"files under {self.mailer.outbox}",
                ("legal_compliance",),
                "legal_obligation",
                retention="P30D",
                erase=self._erase_outbox,
                sweep=self._sweep_outbox,
            )
        )
        register_own(
            self.datamap,
            engine,
            tombstone=self.tombstone,
            digest=self.suppression_digest,
            data_dir=data_dir,
            cache=cache,
            models=models,
        )
        self.datamap.register(
            DataCategory(
                "audit",
                "Tamper-evident records of actions; subjects named by keyed reference only",
                "database table audit_events",
                ("security", "legal_compliance"),
                "legal_obligation",
            )
        )
        for name, period in (retention or {}).items():
            self.datamap.set_retention(name, period)

    # -- subjects ----------------------------------------------------------------------

    def tombstone(self, subject: str) -> str:
        """What replaces the ID in records kept after erasure (unlinkable without the key)."""
        mac = hmac.new(self._tombstone_key, subject.encode(), hashlib.sha256).hexdigest()
        return f"erased:{mac[:24]}"

    def suppression_digest(self, subject: str) -> str:
        """The keyed digest that keeps an erased subject's new events out."""
        return hmac.new(self._suppress_key, subject.encode(), hashlib.sha256).hexdigest()

    async def subject_ref(self, subject: str, *, create: bool = True) -> str:
        """``subj_<24 hex>``: the subject's reference in audit and processing records."""
        k = subject_keys.c
        async with self.engine.begin() as conn:
            row = (await conn.execute(sa.select(k.secret).where(k.subject_id == subject))).first()
            secret = row[0] if row is not None else None
            if secret is None:
                secret = secrets.token_hex(32)
                if create:
                    try:
                        await conn.execute(
                            subject_keys.insert().values(
                                subject_id=subject, secret=secret, created_at=self.clock()
                            )
                        )
                    except sa.exc.IntegrityError:  # pragma: no cover - a concurrent first use
                        return await self.subject_ref(subject)
        mac = hmac.new(bytes.fromhex(secret), subject.encode(), hashlib.sha256).hexdigest()
        return f"subj_{mac[:24]}"

    async def _audit(
        self, action: str, ref: str, details: dict[str, Any], *, error: str | None = None
    ) -> None:
        if self.audit is None:
            return
        from backbeat.audit import AuditEvent, canonical_details

        await self.audit.record(
            AuditEvent(
                action=action,
                actor="privacy",
                resource=ref,
                outcome="failure" if error else "success",
                error_code=error,
                details=canonical_details(details),
            )
        )

    async def _emails_of(self, subject: str) -> set[str]:
        r = privacy_requests.c
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(r.id, r.email).where(r.subject_id == subject, r.email.is_not(None))
            )
            return {
                self.keyring.decrypt(email, associated_data=rid.encode()).decode().lower()
                for rid, email in rows
            }

    async def _erase_outbox(self, subject: str) -> Erased:
        import email
        from email.utils import getaddresses

        addresses = await self._emails_of(subject)
        removed = 0
        for path in sorted(self.mailer.outbox.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes())
            to = {a.lower() for _, a in getaddresses(message.get_all("To", []))}
            if to & addresses:
                path.unlink(missing_ok=True)
                removed += 1
        return Erased(removed)

    async def _sweep_outbox(self, cutoff: dt.datetime, dry_run: bool) -> int:
        old = [
            p
            for p in self.mailer.outbox.glob("*.eml")
            if dt.datetime.fromtimestamp(p.stat().st_mtime, dt.UTC) < cutoff
        ]
        if not dry_run:
            for path in old:
                path.unlink(missing_ok=True)
        return len(old)

    # -- requests ----------------------------------------------------------------------

    def _sign(self, request_id: str, nonce: str, expires: int) -> str:
        message = f"{request_id}.{nonce}.{expires}".encode()
        return hmac.new(self._token_key, message, hashlib.sha256).hexdigest()[:32]

    async def process_data_subject_request(
        self,
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
        now = self.clock()
        request_id = secrets.token_hex(16)
        nonce = secrets.token_urlsafe(18)
        expires = now + self.token_ttl
        stamp = int(expires.timestamp())
        token = f"{nonce}.{self._sign(request_id, nonce, stamp)}.{stamp}"
        ref = await self.subject_ref(user_id)
        sealed = self.keyring.encrypt_text(email, associated_data=request_id.encode())
        details = (
            self.keyring.encrypt_text(json.dumps(changes), associated_data=request_id.encode())
            if changes
            else None
        )
        async with self.engine.begin() as conn:
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
        await self.mailer.send(
            email,
            "Confirm your privacy request",
            "Someone asked for the following about your account:\n"
            f"  request: {kind}\n  reference: {request_id}\n\n"
            "If it was you, confirm it with this code within "
            f"{int(self.token_ttl.total_seconds() // 3600)} hours:\n\n"
            f"  code: {token}\n\n"
            "If it was not you, ignore this message: nothing will happen.\n",
        )
        await self._audit("privacy.request.received", ref, {"request": request_id, "type": kind})
        return await self.get_request(request_id)

    async def get_request(self, request_id: str) -> PrivacyRequest:
        async with self.engine.connect() as conn:
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
        self, *, overdue: bool = False, due_within: dt.timedelta | None = None
    ) -> list[PrivacyRequest]:
        """Requests, oldest first; ``overdue``: open ones past their due date;
        ``due_within``: open ones due before then."""
        r = privacy_requests.c
        query = sa.select(privacy_requests).order_by(r.received_at)
        now = self.clock()
        if overdue or due_within is not None:
            limit = now if overdue else now + (due_within or dt.timedelta(0))
            query = query.where(r.status.in_(OPEN), r.due_at < limit)
        async with self.engine.connect() as conn:
            return [_request(row) for row in await conn.execute(query)]

    @staticmethod
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

    async def _refuse_token(self, request_id: str, code: str) -> SecurityError:
        request = None
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(privacy_requests.c.subject_ref).where(
                        privacy_requests.c.id == request_id
                    )
                )
            ).first()
            request = row[0] if row else "unknown"
        await self._audit(
            "privacy.request.verify", request, {"request": request_id[:40]}, error=code
        )
        return self._token_error(code, request_id)

    async def verify_request(self, request_id: str, token: str) -> PrivacyRequest:
        """Check the e-mailed token, then carry the request out."""
        parts = token.strip().split(".")
        if len(parts) != 3:
            raise await self._refuse_token(request_id, "privacy.token_invalid")
        nonce, signature, expires_text = parts
        if not (expires_text.isascii() and expires_text.isdigit()) or not hmac.compare_digest(
            signature.encode(), self._sign(request_id, nonce, int(expires_text)).encode()
        ):
            raise await self._refuse_token(request_id, "privacy.token_invalid")
        now = self.clock()
        r = privacy_requests.c
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(sa.select(privacy_requests).where(r.id == request_id))
            ).first()
            if row is None:
                raise await self._refuse_token(request_id, "privacy.token_invalid")
            m = row._mapping
            if m["token_used_at"] is not None or m["status"] != "pending_verification":
                raise await self._refuse_token(request_id, "privacy.token_used")
            expires = _aware(m["token_expires_at"])
            if expires is None or expires < now or int(expires_text) < int(now.timestamp()):
                raise await self._refuse_token(request_id, "privacy.token_expired")
            digest = hashlib.sha256(nonce.encode()).hexdigest()
            if not hmac.compare_digest(digest, m["token_hash"] or ""):
                raise await self._refuse_token(request_id, "privacy.token_invalid")
            claimed = await conn.execute(
                privacy_requests.update()
                .where(r.id == request_id, r.token_used_at.is_(None))
                .values(token_used_at=now, verified_at=now, status="verified")
            )
            if claimed.rowcount != 1:  # pragma: no cover - a concurrent use won
                raise await self._refuse_token(request_id, "privacy.token_used")
        await self._audit("privacy.request.verified", m["subject_ref"], {"request": request_id})
        return await self._carry_out(request_id)

    async def _set_status(self, request_id: str, status: str, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                privacy_requests.update()
                .where(privacy_requests.c.id == request_id)
                .values(status=status, **values)
            )

    async def _carry_out(self, request_id: str) -> PrivacyRequest:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(privacy_requests).where(privacy_requests.c.id == request_id)
                )
            ).first()
        assert row is not None
        m = row._mapping
        subject, ref, kind = m["subject_id"], m["subject_ref"], m["type"]
        await self._set_status(request_id, "in_progress")
        await self._audit("privacy.request.in_progress", ref, {"request": request_id})
        try:
            if kind in ("access", "portability"):
                archive = await self.export_subject(subject)
                folder = self.data_dir / "privacy" / "exports"
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
                report = await self.erase_subject(subject, request_id=request_id)
                outcome = {
                    "erased": {k: v["rows"] for k, v in report.categories.items()},
                }
            elif kind == "rectification":
                changes = json.loads(
                    self.keyring.decrypt(m["details"], associated_data=request_id.encode())
                )
                outcome = {"rectified": await self.rectify_subject(subject, changes)}
            else:  # restriction, objection: processing stops for every purpose on record
                outcome = {"withdrawn": await self._withdraw_all(subject, source=request_id)}
        except BackbeatError as exc:
            await self._set_status(
                request_id, "rejected", completed_at=self.clock(), reason=exc.code[:200]
            )
            await self._audit(
                "privacy.request.rejected", ref, {"request": request_id}, error=exc.code
            )
            raise
        closed: dict[str, Any] = {"completed_at": self.clock(), "outcome": json.dumps(outcome)}
        if kind == "erasure":
            closed.update(subject_id=None, email=None, details=None)
        await self._set_status(request_id, "completed", **closed)
        await self._audit("privacy.request.completed", ref, {"request": request_id, "type": kind})
        return await self.get_request(request_id)

    async def extend_request(self, request_id: str, reason: str) -> PrivacyRequest:
        """Use the extension the law allows (GDPR two months, CCPA 45 days), with the reason."""
        request = await self.get_request(request_id)
        if request.status not in OPEN or request.extended:
            raise PrivacyConflict(
                "privacy.cannot_extend",
                details={"request": request_id, "status": request.status},
                message="Request {request} ({status}) cannot be extended.",
            )
        due = due_date(request.received_at, request.jurisdiction, extended=True)
        async with self.engine.begin() as conn:
            await conn.execute(
                privacy_requests.update()
                .where(privacy_requests.c.id == request_id)
                .values(due_at=due, extended=True, reason=reason[:200])
            )
        return await self.get_request(request_id)

    async def export_path(self, request_id: str) -> Path:
        request = await self.get_request(request_id)
        path = self.data_dir / "privacy" / "exports" / f"{request_id}.zip"
        if request.status != "completed" or not path.exists():
            raise PrivacyConflict(
                "privacy.export_not_ready",
                details={"request": request_id, "status": request.status},
                message="Request {request} has no export ({status}).",
            )
        return path

    # -- the subject's data ------------------------------------------------------------

    async def export_subject(self, subject: str) -> bytes:
        """A ZIP: ``<category>.json`` and ``.csv`` for every category holding rows, and
        ``manifest.json`` (categories, purposes, lawful bases, recipients, retention)."""
        buffer = io.BytesIO()
        described = []
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for category in self.datamap:
                rows = await category.export(subject) if category.export else []
                described.append({**category.describe(), "rows": len(rows)})
                if not rows:
                    continue
                archive.writestr(f"{category.name}.json", json.dumps(rows, indent=2))
                text = io.StringIO()
                columns = sorted({k for row in rows for k in row})
                writer = csv.DictWriter(text, fieldnames=columns)
                writer.writeheader()
                for row in rows:
                    writer.writerow(
                        {
                            k: json.dumps(v) if isinstance(v, dict | list) else v
                            for k, v in row.items()
                        }
                    )
                archive.writestr(f"{category.name}.csv", text.getvalue())
            manifest = {
                "generated_at": self.clock().isoformat(),
                "categories": described,
                "rights": "GDPR Art. 15-22; CCPA 1798.100-1798.125",
            }
            archive.writestr("manifest.json", json.dumps(manifest, indent=2))
        return buffer.getvalue()

    async def erase_subject(self, subject: str, *, request_id: str | None = None) -> ErasureReport:
        """Erase ``subject`` from every category (see the module's text); a second erasure
        is refused."""
        async with self.engine.connect() as conn:
            done = await conn.execute(
                sa.select(suppressed_subjects.c.digest).where(
                    suppressed_subjects.c.digest == self.suppression_digest(subject)
                )
            )
            if done.first() is not None:
                raise PrivacyConflict(
                    "privacy.already_erased",
                    message="This subject was already erased.",
                )
        ref = await self.subject_ref(subject)
        report: dict[str, dict[str, Any]] = {}
        for category in self.datamap:
            if category.erase is None:
                continue
            outcome: Erased = await category.erase(subject)
            report[category.name] = {
                "rows": outcome.rows,
                "action": outcome.action,
                "reason": outcome.reason,
            }
        async with self.engine.begin() as conn:
            for name, done_ in report.items():
                await conn.execute(
                    erasures.insert().values(
                        subject_ref=ref,
                        request_id=request_id,
                        category=name,
                        action=done_["action"],
                        rows=done_["rows"],
                        reason=done_["reason"],
                        erased_at=self.clock(),
                    )
                )
            # last: the key that ties audit references to the subject
            await conn.execute(subject_keys.delete().where(subject_keys.c.subject_id == subject))
        report["audit"] = {"rows": 0, "action": "unlinked", "reason": "subject key deleted"}
        await self._audit(
            "privacy.erasure", ref, {"request": request_id, "categories": sorted(report)}
        )
        return ErasureReport(ref, report)

    async def rectify_subject(self, subject: str, changes: dict[str, Any]) -> dict[str, int]:
        """Apply ``changes`` (``{category: {...}}``) through each category's rectify."""
        unknown = [
            name for name in changes if (c := self.datamap.get(name)) is None or c.rectify is None
        ]
        if unknown:
            raise ValidationError(
                "privacy.rectify_unsupported",
                details={"categories": ", ".join(unknown)},
                message="These categories cannot be rectified: {categories}.",
            )
        out = {}
        for name, change in changes.items():
            category = self.datamap.get(name)
            if category is not None and category.rectify is not None:
                out[name] = await category.rectify(subject, change)
        return out

    async def verify_erasure(
        self, subject: str, *, extra_paths: Iterable[Path] = (), log_paths: Iterable[Path] = ()
    ) -> list[dict[str, Any]]:
        """Where ``subject``'s ID still appears: every text column of every table, Redis
        keys and values, the data folder's files (media, models, outbox, exports) and the
        given log files. Empty when erasure reached every copy."""
        from backbeat.compliance._scan import scan_everywhere

        return await scan_everywhere(
            subject,
            self.engine,
            redis=self.redis,
            folders=[self.data_dir, *extra_paths],
            logs=list(log_paths),
        )

    # -- consent -----------------------------------------------------------------------

    async def set_consent(
        self,
        subject: str,
        purpose: str,
        status: str,
        *,
        lawful_basis: str = "consent",
        notice_version: str = "1",
        source: str = "api",
    ) -> dict[str, Any]:
        """Record consent ``given`` or ``withdrawn`` for ``purpose`` (effective at once)."""
        if status not in ("given", "withdrawn"):
            raise ValidationError(
                "privacy.consent_status",
                details={"value": status[:20]},
                message="Consent status {value!r} must be given or withdrawn.",
            )
        now = self.clock()
        k = consents.c
        values: dict[str, Any] = {
            "status": status,
            "lawful_basis": lawful_basis,
            "notice_version": notice_version,
            "source": source,
            "updated_at": now,
        }
        values["given_at" if status == "given" else "withdrawn_at"] = now
        async with self.engine.begin() as conn:
            found = await conn.execute(
                sa.select(k.purpose).where(k.subject_id == subject, k.purpose == purpose)
            )
            if found.first() is None:
                await conn.execute(
                    consents.insert().values(subject_id=subject, purpose=purpose, **values)
                )
            else:
                await conn.execute(
                    consents.update()
                    .where(k.subject_id == subject, k.purpose == purpose)
                    .values(**values)
                )
        await self._audit(
            f"privacy.consent.{status}",
            await self.subject_ref(subject),
            {"purpose": purpose, "notice_version": notice_version, "source": source},
        )
        return (await self.consents(subject))[purpose]

    async def consents(self, subject: str) -> dict[str, dict[str, Any]]:
        k = consents.c
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(consents).where(k.subject_id == subject))
            return {
                row.purpose: {
                    "purpose": row.purpose,
                    "status": row.status,
                    "lawful_basis": row.lawful_basis,
                    "notice_version": row.notice_version,
                    "source": row.source,
                    "given_at": _iso(row.given_at),
                    "withdrawn_at": _iso(row.withdrawn_at),
                }
                for row in rows
            }

    async def require_consent(self, subject: str, purpose: str) -> None:
        """Raise :class:`ConsentRequired` unless ``subject`` has consent for ``purpose``."""
        state = (await self.consents(subject)).get(purpose)
        if state is None or state["status"] != "given":
            raise ConsentRequired(details={"purpose": purpose})

    async def _withdraw_all(self, subject: str, *, source: str) -> list[str]:
        purposes = sorted(
            {p for c in self.datamap for p in c.purposes if c.lawful_basis != "legal_obligation"}
        )
        for purpose in purposes:
            await self.set_consent(subject, purpose, "withdrawn", source=f"request:{source}")
        return purposes

    # -- records of processing ---------------------------------------------------------

    async def log_processing_activity(self, user_id: str, data_type: str, purpose: str) -> None:
        """Record that ``purpose`` processed ``data_type`` about ``user_id`` (by reference)."""
        ref = await self.subject_ref(user_id)
        async with self.engine.begin() as conn:
            await conn.execute(
                processing_activities.insert().values(
                    subject_ref=ref, data_type=data_type, purpose=purpose, recorded_at=self.clock()
                )
            )

    async def records_of_processing(self) -> dict[str, Any]:
        """GDPR Art. 30: categories, purposes, bases, recipients, retention, and the logged
        activities by data type and purpose."""
        a = processing_activities.c
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(
                    a.data_type,
                    a.purpose,
                    sa.func.count().label("n"),
                    sa.func.count(sa.distinct(a.subject_ref)).label("subjects"),
                    sa.func.max(a.recorded_at).label("last"),
                ).group_by(a.data_type, a.purpose)
            )
            activities = [
                {
                    "data_type": row.data_type,
                    "purpose": row.purpose,
                    "records": int(row.n),
                    "subjects": int(row.subjects),
                    "last": (_aware(row.last) or _now()).isoformat(),
                }
                for row in rows
            ]
        return {
            "generated_at": self.clock().isoformat(),
            "categories": [c.describe() for c in self.datamap],
            "activities": activities,
        }

    @staticmethod
    def records_markdown(records: dict[str, Any]) -> str:
        lines = [
            "# Records of processing activities (GDPR Art. 30)",
            "",
            f"Generated {records['generated_at']}.",
            "",
            "| category | holds | where | purposes | lawful basis | recipients | retention |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in records["categories"]:
            lines.append(
                f"| {c['category']} | {c['description']} | {c['location']} | "
                f"{', '.join(c['purposes'])} | {c['lawful_basis']} | "
                f"{', '.join(c['recipients']) or '-'} | {c['retention'] or '-'} |"
            )
        lines += [
            "",
            "## Logged processing",
            "",
            "| data type | purpose | records | subjects | last |",
            "|---|---|---|---|---|",
        ]
        for a in records["activities"]:
            lines.append(
                f"| {a['data_type']} | {a['purpose']} | {a['records']} | {a['subjects']} | "
                f"{a['last']} |"
            )
        return "\n".join(lines) + "\n"

    # -- retention ---------------------------------------------------------------------

    async def retention_sweep(
        self, *, dry_run: bool = False, now: dt.datetime | None = None
    ) -> dict[str, int]:
        """Delete what each category holds past its retention (``dry_run``: count only)."""
        moment = now or self.clock()
        out: dict[str, int] = {}
        for category in self.datamap:
            if category.sweep is None or category.retention_period is None:
                continue
            cutoff = category.retention_period.before(moment)
            out[category.name] = await category.sweep(cutoff, dry_run)
        if not dry_run and any(out.values()):
            await self._audit("privacy.retention_sweep", "retention", {"deleted": out})
        return out

    async def auto_anonymize_expired_data(
        self, retention_policy: str = "7_years", anonymization_method: str = "k_anonymity"
    ) -> dict[str, Any]:
        """Listening events older than ``retention_policy`` lose their user: ``k_anonymity``
        replaces the user by a group label shared by at least 5 users (users grouped by
        activity), ``pseudonymize`` by a per-run random pseudonym, ``delete`` removes them."""
        from backbeat.compliance._expire import anonymize_expired_events

        return await anonymize_expired_events(
            self.engine, retention_policy, anonymization_method, now=self.clock()
        )

    # -- cache keys --------------------------------------------------------------------

    @staticmethod
    def user_cache_key(subject: str, key: str) -> str:
        """A per-user cache key that erasure purges (``bb:user:<id>:<key>``)."""
        return f"{USER_CACHE_PREFIX}{subject}:{key}"


def _mailer(settings: Any) -> Mailer:
    url = settings.smtp_url.get_secret_value() if settings.smtp_url is not None else ""
    return Mailer(outbox=settings.data_dir / "outbox", smtp_url=url, sender=settings.mail_from)


def create_gdpr_compliance(source: Any = None, **options: Any) -> GdprCompliance:
    """The seed's ``create_gdpr_compliance()``: from a ``Toolkit`` (its database, keyring,
    cache, audit trail and Redis), from ``Settings``, or from the environment."""
    from backbeat.settings import Settings

    if source is None:
        source = Settings.from_env()
    if isinstance(source, Settings):
        from backbeat.audit import AuditStore, AuditTrail, Sealer
        from backbeat.security import Keyring, local_keyring
        from backbeat.storage import create_engine

        settings = source
        engine = create_engine(settings.database_url)
        if settings.encryption_key is not None:
            keyring = Keyring.from_string(settings.encryption_key.get_secret_value())
        elif settings.encryption_key_file is not None:
            keyring = Keyring.from_file(settings.encryption_key_file)
        else:
            keyring = local_keyring(settings)[0]
        trail = AuditTrail(AuditStore(engine, Sealer(keyring)), enabled=settings.enable_audit_logs)
        defaults: dict[str, Any] = {"audit": trail}
    else:
        settings = source.settings
        engine = source.database_engine()
        keyring = source.audit_keyring()
        defaults = {
            "cache": source.cache,
            "audit": source.audit,
            "redis": source.redis_client() if settings.redis_url else None,
        }
    return GdprCompliance(
        engine,
        keyring,
        data_dir=settings.data_dir,
        mailer=_mailer(settings),
        models=settings.data_dir / "models",
        retention=settings.retention_policies(),
        **{**defaults, **options},
    )
