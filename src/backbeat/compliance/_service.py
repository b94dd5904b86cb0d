"""``GdprCompliance``: data-subject requests, consent, records of processing, retention and
provable erasure over the data map (the seed's ``create_gdpr_compliance()``).

Requests (GDPR Art. 15-18, 20, 21; CCPA know, delete, correct, opt-out) and their e-mailed
codes live in ``_requests.py``; creating a request answers the same whether the subject
exists or not; what is found is said only after verification.

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
import secrets
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from backbeat.compliance import _requests
from backbeat.compliance._datamap import DataCategory, DataMap, Erased
from backbeat.compliance._mail import Mailer
from backbeat.compliance._own import USER_CACHE_PREFIX, register_own
from backbeat.compliance._requests import (
    REQUEST_TYPES,
    ConsentRequired,
    ErasureReport,
    PrivacyConflict,
    PrivacyRequest,
    _aware,
    _iso,
    _now,
)
from backbeat.errors import ValidationError
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
]


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

    # -- requests (see _requests.py) -------------------------------------------------

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
        """Open a request and mail its verification code; it is carried out once
        :meth:`verify_request` gets the code."""
        return await _requests.process_data_subject_request(
            self,
            user_id,
            request_type,
            verification_method,
            email=email,
            jurisdiction=jurisdiction,
            changes=changes,
        )

    async def verify_request(self, request_id: str, token: str) -> PrivacyRequest:
        """Check the e-mailed code, then carry the request out."""
        return await _requests.verify_request(self, request_id, token)

    async def get_request(self, request_id: str) -> PrivacyRequest:
        return await _requests.get_request(self, request_id)

    async def list_requests(
        self, *, overdue: bool = False, due_within: dt.timedelta | None = None
    ) -> list[PrivacyRequest]:
        """Requests, oldest first; ``overdue``: open ones past their due date;
        ``due_within``: open ones due before then."""
        return await _requests.list_requests(self, overdue=overdue, due_within=due_within)

    async def extend_request(self, request_id: str, reason: str) -> PrivacyRequest:
        """Use the extension the law allows (GDPR two months, CCPA 45 days), with the reason."""
        return await _requests.extend_request(self, request_id, reason)

    async def export_path(self, request_id: str) -> Path:
        """The ZIP of a completed access or portability request."""
        return await _requests.export_path(self, request_id)

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
