"""backbeat's own stores of personal data, as data categories.

| category | rows | erasure (rectification) |
|---|---|---|
| ``listening_events`` | plays, skips, likes by user | deleted, refused afterwards (plays removed) |
| ``weekly_playlists`` | generated playlists by user | deleted (regenerated) |
| ``credentials`` | third-party tokens by owner (``user``, ``jwt:user``) | deleted (providers) |
| ``consents`` | consent state by purpose | deleted |
| ``billing`` | subscriptions, payments, billing events | tombstoned (by billing events only) |
| ``privacy_requests`` | the subject's requests | ID and e-mail emptied, exports deleted |
| ``recommendation_models`` | per-user rows of registered models | row emptied, ID replaced |
| ``cache`` | per-user cache entries (``bb:user:<id>:``) | purged in every process |
| ``audit`` | audit records (subjects by keyed reference) | reference unlinked (key deleted) |
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from backbeat.compliance._datamap import DataCategory, DataMap, Erased
from backbeat.errors import ValidationError
from backbeat.storage import (
    billing_events,
    consents,
    credentials,
    listening_events,
    payments,
    privacy_requests,
    processing_activities,
    subscriptions,
    suppressed_subjects,
    weekly_playlists,
)

__all__ = ["USER_CACHE_PREFIX", "register_own"]

#: Per-user cache keys start with this and the user's ID: erasure clears the prefix.
USER_CACHE_PREFIX = "bb:user:"

_ACCOUNTING = "accounting records kept for tax law: user replaced by an unlinkable tombstone"


def _safe(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _rows(result: Any, *, drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [{k: _safe(v) for k, v in row._mapping.items() if k not in drop} for row in result]


def _stamp(epoch: Any) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(float(epoch), dt.UTC).isoformat()


def _replace(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {k: _replace(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, old, new) for v in value]
    return value.replace(old, new) if isinstance(value, str) else value


def _bad(field: str, expected: str) -> ValidationError:
    return ValidationError(
        "privacy.changes_invalid",
        details={"field": field, "expected": expected},
        message="The correction {field} is not valid: expected {expected}.",
    )


def _only(changes: Any, category: str, allowed: tuple[str, ...]) -> None:
    if not isinstance(changes, dict) or set(changes) - set(allowed):
        raise _bad(category, "an object with " + ", ".join(allowed))


def _when(value: Any, field: str) -> float:
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise _bad(field, "an ISO-8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def register_own(
    datamap: DataMap,
    engine: AsyncEngine,
    *,
    tombstone: Callable[[str], str],
    digest: Callable[[str], str],
    data_dir: Path,
    cache: Any = None,
    models: Path | None = None,
) -> None:
    """Register backbeat's categories on ``datamap`` (``tombstone(subject)``: the
    replacement ID where a row must stay; ``digest(subject)``: the keyed digest that keeps
    an erased subject's new events out)."""

    async def fetch(query: Any, *, drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        async with engine.connect() as conn:
            return _rows(await conn.execute(query), drop=drop)

    async def delete(*statements: Any) -> int:
        total = 0
        async with engine.begin() as conn:
            for statement in statements:
                total += int((await conn.execute(statement)).rowcount or 0)
        return total

    # -- listening events --------------------------------------------------------------
    e = listening_events.c

    async def events_export(subject: str) -> list[dict[str, Any]]:
        rows = await fetch(
            sa.select(e.track_id, e.kind, e.timestamp, e.ms_played)
            .where(e.user_id == subject)
            .order_by(e.timestamp)
        )
        for row in rows:
            row["timestamp"] = _stamp(row["timestamp"])
        return rows

    async def events_erase(subject: str) -> Erased:
        # One transaction: on PostgreSQL the table lock waits for ingestions in flight and
        # holds new ones until the digest is committed (SQLite's write lock does the same);
        # EventRepository.add reads the digests after its insert, so nothing survives.
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                await conn.execute(
                    sa.text("LOCK TABLE listening_events IN SHARE ROW EXCLUSIVE MODE")
                )
            mark = digest(subject)
            known = await conn.execute(
                sa.select(suppressed_subjects.c.digest).where(suppressed_subjects.c.digest == mark)
            )
            if known.first() is None:
                await conn.execute(
                    suppressed_subjects.insert().values(
                        digest=mark, erased_at=dt.datetime.now(dt.UTC)
                    )
                )
            gone = await conn.execute(listening_events.delete().where(e.user_id == subject))
            return Erased(int(gone.rowcount or 0))

    async def events_rectify(subject: str, changes: dict[str, Any]) -> int:
        """``{"remove": [{"track": ID, "timestamp": ISO}], "remove_between": [ISO, ISO]}``:
        plays the user says were not theirs."""
        _only(changes, "listening_events", ("remove", "remove_between"))
        conditions = []
        for item in changes.get("remove", []):
            when = _when(item.get("timestamp"), "listening_events.remove.timestamp")
            conditions.append(
                (e.track_id == str(item.get("track", "")))
                & (sa.func.abs(e.timestamp - when) < 0.001)
            )
        between = changes.get("remove_between")
        if between is not None:
            if not isinstance(between, list) or len(between) != 2:
                raise _bad("listening_events.remove_between", "two ISO-8601 times")
            lo = _when(between[0], "listening_events.remove_between")
            hi = _when(between[1], "listening_events.remove_between")
            conditions.append((e.timestamp >= lo) & (e.timestamp <= hi))
        if not conditions:
            return 0
        return await delete(
            listening_events.delete().where(e.user_id == subject, sa.or_(*conditions))
        )

    async def events_sweep(cutoff: dt.datetime, dry_run: bool) -> int:
        old = e.timestamp < cutoff.timestamp()
        if dry_run:
            async with engine.connect() as conn:
                query = sa.select(sa.func.count()).select_from(listening_events).where(old)
                return int((await conn.execute(query)).scalar_one())
        return await delete(listening_events.delete().where(old))

    datamap.register(
        DataCategory(
            "listening_events",
            "What the user played, skipped, liked or saved, when and for how long",
            "database table listening_events",
            ("personalization", "recommendations", "analytics"),
            "contract",
            retention="2_years",
            export=events_export,
            erase=events_erase,
            rectify=events_rectify,
            sweep=events_sweep,
        )
    )

    # -- weekly playlists --------------------------------------------------------------
    w = weekly_playlists.c

    async def playlists_export(subject: str) -> list[dict[str, Any]]:
        rows = await fetch(
            sa.select(weekly_playlists).where(w.user_id == subject), drop=("user_id",)
        )
        for row in rows:
            row["picks"] = json.loads(row["picks"])
        return rows

    async def playlists_erase(subject: str) -> Erased:
        return Erased(await delete(weekly_playlists.delete().where(w.user_id == subject)))

    async def playlists_rectify(subject: str, changes: dict[str, Any]) -> int:
        """``{"regenerate": true}``: the stored playlists go; the next ones are made anew."""
        _only(changes, "weekly_playlists", ("regenerate",))
        if not changes.get("regenerate"):
            return 0
        return await delete(weekly_playlists.delete().where(w.user_id == subject))

    datamap.register(
        DataCategory(
            "weekly_playlists",
            "Discover Weekly playlists generated from the user's listening",
            "database table weekly_playlists",
            ("personalization",),
            "contract",
            export=playlists_export,
            erase=playlists_erase,
            rectify=playlists_rectify,
        )
    )

    # -- credentials -------------------------------------------------------------------
    c = credentials.c

    def owners(subject: str) -> Any:
        return c.owner.in_([subject, f"jwt:{subject}"])

    async def credentials_export(subject: str) -> list[dict[str, Any]]:
        # the tokens themselves stay sealed: the subject learns which exist and until when
        return await fetch(sa.select(c.provider, c.expires_at, c.updated_at).where(owners(subject)))

    async def credentials_erase(subject: str) -> Erased:
        return Erased(await delete(credentials.delete().where(owners(subject))))

    async def credentials_rectify(subject: str, changes: dict[str, Any]) -> int:
        """``{"remove": ["spotify", ...]}``: tokens the user no longer wants kept."""
        _only(changes, "credentials", ("remove",))
        providers = [str(p) for p in changes.get("remove", [])]
        if not providers:
            return 0
        return await delete(credentials.delete().where(owners(subject), c.provider.in_(providers)))

    datamap.register(
        DataCategory(
            "credentials",
            "Third-party tokens (e.g. Spotify OAuth) kept encrypted for the user",
            "database table credentials (AES-256-GCM ciphertext)",
            ("account_linking",),
            "contract",
            recipients=("the third-party provider the token is for",),
            export=credentials_export,
            erase=credentials_erase,
            rectify=credentials_rectify,
        )
    )

    # -- consents ----------------------------------------------------------------------
    k = consents.c

    async def consents_export(subject: str) -> list[dict[str, Any]]:
        return await fetch(sa.select(consents).where(k.subject_id == subject), drop=("subject_id",))

    async def consents_erase(subject: str) -> Erased:
        return Erased(await delete(consents.delete().where(k.subject_id == subject)))

    async def consents_sweep(cutoff: dt.datetime, dry_run: bool) -> int:
        old = (k.status == "withdrawn") & (k.withdrawn_at < cutoff)
        if dry_run:
            async with engine.connect() as conn:
                query = sa.select(sa.func.count()).select_from(consents).where(old)
                return int((await conn.execute(query)).scalar_one())
        return await delete(consents.delete().where(old))

    datamap.register(
        DataCategory(
            "consents",
            "Consent given or withdrawn per purpose, with notice version and source",
            "database table consents",
            ("consent_management",),
            "legal_obligation",
            retention="3_years",
            export=consents_export,
            erase=consents_erase,
            sweep=consents_sweep,
        )
    )

    # -- billing -----------------------------------------------------------------------
    s, p, b = subscriptions.c, payments.c, billing_events.c

    async def billing_export(subject: str) -> list[dict[str, Any]]:
        subs = await fetch(sa.select(subscriptions).where(s.user_id == subject), drop=("user_id",))
        pays = await fetch(sa.select(payments).where(p.user_id == subject), drop=("user_id",))
        out: list[dict[str, Any]] = []
        for row in subs:
            row["started_at"], row["ended_at"] = _stamp(row["started_at"]), _stamp(row["ended_at"])
            out.append({"record": "subscription", **row})
        for row in pays:
            row["paid_at"] = _stamp(row["paid_at"])
            out.append({"record": "payment", **row})
        return out

    async def billing_erase(subject: str) -> Erased:
        stone = tombstone(subject)
        async with engine.begin() as conn:
            n = int(
                (
                    await conn.execute(
                        subscriptions.update().where(s.user_id == subject).values(user_id=stone)
                    )
                ).rowcount
                or 0
            )
            n += int(
                (
                    await conn.execute(
                        payments.update().where(p.user_id == subject).values(user_id=stone)
                    )
                ).rowcount
                or 0
            )
            found = await conn.execute(
                sa.select(b.idempotency_key, b.result).where(b.user_id == subject)
            )
            for key, result in found.all():
                # the host's idempotency keys may embed the user's ID: unlinked too (a replay
                # of the old key then counts as a new event, which an erased user cannot send)
                cleaned = json.dumps(_replace(json.loads(result), subject, stone), sort_keys=True)
                await conn.execute(
                    billing_events.update()
                    .where(b.idempotency_key == key)
                    .values(
                        idempotency_key=key.replace(subject, stone),
                        user_id=stone,
                        result=cleaned,
                    )
                )
                n += 1
        return Erased(n, "tombstoned", _ACCOUNTING)

    datamap.register(
        DataCategory(
            "billing",
            "Subscriptions, charges and refunds, and the billing events that recorded them",
            "database tables subscriptions, payments, billing_events",
            ("billing", "analytics"),
            "legal_obligation",
            retention="10_years",
            recipients=("the payment provider",),
            export=billing_export,
            erase=billing_erase,
        )
    )

    # -- privacy requests --------------------------------------------------------------
    r = privacy_requests.c
    exports = data_dir / "privacy" / "exports"

    async def requests_export(subject: str) -> list[dict[str, Any]]:
        return await fetch(
            sa.select(r.id, r.type, r.jurisdiction, r.status, r.received_at, r.due_at)
            .where(r.subject_id == subject)
            .order_by(r.received_at)
        )

    async def requests_erase(subject: str) -> Erased:
        async with engine.begin() as conn:
            ids = [
                row[0] for row in await conn.execute(sa.select(r.id).where(r.subject_id == subject))
            ]
            if ids:
                await conn.execute(
                    privacy_requests.update()
                    .where(r.id.in_(ids))
                    .values(subject_id=None, email=None, details=None)
                )
        for request_id in ids:
            (exports / f"{request_id}.zip").unlink(missing_ok=True)
        return Erased(len(ids), "unlinked", "the requests stay as proof, without ID or e-mail")

    async def requests_sweep(cutoff: dt.datetime, dry_run: bool) -> int:
        old = r.status.in_(["completed", "rejected"]) & (r.completed_at < cutoff)
        if dry_run:
            async with engine.connect() as conn:
                query = sa.select(sa.func.count()).select_from(privacy_requests).where(old)
                return int((await conn.execute(query)).scalar_one())
        return await delete(privacy_requests.delete().where(old))

    datamap.register(
        DataCategory(
            "privacy_requests",
            "The user's data-subject requests: type, status and deadlines",
            "database table privacy_requests; exports under <data dir>/privacy/exports",
            ("legal_compliance",),
            "legal_obligation",
            retention="3_years",
            export=requests_export,
            erase=requests_erase,
            sweep=requests_sweep,
        )
    )

    # -- processing records (by reference only) ---------------------------------------
    a = processing_activities.c

    async def activities_sweep(cutoff: dt.datetime, dry_run: bool) -> int:
        old = a.recorded_at < cutoff
        if dry_run:
            async with engine.connect() as conn:
                query = sa.select(sa.func.count()).select_from(processing_activities).where(old)
                return int((await conn.execute(query)).scalar_one())
        return await delete(processing_activities.delete().where(old))

    datamap.register(
        DataCategory(
            "processing_activities",
            "Which processing touched which kind of data, subjects by keyed reference",
            "database table processing_activities",
            ("legal_compliance",),
            "legal_obligation",
            retention="1_years",
            sweep=activities_sweep,
        )
    )

    # -- recommendation models ---------------------------------------------------------
    if models is not None:

        async def models_erase(subject: str) -> Erased:
            import anyio

            from backbeat.recommend import forget_user

            stone = tombstone(subject)

            def work() -> int:
                if not models.exists():
                    return 0
                return sum(
                    1 for path in sorted(models.rglob("*.npz")) if forget_user(path, subject, stone)
                )

            n = await anyio.to_thread.run_sync(work)
            return Erased(n, "unlinked", "the user's row emptied and ID replaced in each model")

        datamap.register(
            DataCategory(
                "recommendation_models",
                "Per-user rows (interactions, latent factors) of trained recommendation models",
                f"model files under {models}",
                ("recommendations",),
                "contract",
                erase=models_erase,
            )
        )

    # -- cache -------------------------------------------------------------------------
    if cache is not None:

        async def cache_erase(subject: str) -> Erased:
            n = await cache.clear_prefix(f"{USER_CACHE_PREFIX}{subject}:")
            return Erased(int(n or 0), "purged")

        datamap.register(
            DataCategory(
                "cache",
                f"Per-user cache entries (keys {USER_CACHE_PREFIX}<user>:...), every process",
                "in-process cache and Redis",
                ("performance",),
                "contract",
                retention="P1D",
                erase=cache_erase,
            )
        )
