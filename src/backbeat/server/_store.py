"""Repositories of the service: catalogue, analysis results, the job queue, API keys.

Plain SQLAlchemy Core on the async engine, the same statements on SQLite and
PostgreSQL. The job queue is a table: ``claim`` moves the oldest due job to
``running`` with a lease (compare-and-set on the status, so two workers never take
the same job); a worker that dies leaves an expired lease, and the job is claimed
again. Failed attempts are retried with exponential backoff up to
:data:`MAX_ATTEMPTS`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from backbeat.storage import analysis_jobs, api_keys, listening_events, track_analyses, tracks

__all__ = ["MAX_ATTEMPTS", "ApiKeyRecord", "Job", "Store", "TrackRecord"]

MAX_ATTEMPTS = 4
LEASE = dt.timedelta(minutes=5)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes for timezone-aware columns.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


@dataclass(frozen=True, slots=True)
class TrackRecord:
    id: str
    name: str
    artists: list[dict[str, str]]
    isrc: str | None
    album: str | None
    genres: list[str]
    popularity: int | None
    audio_path: str | None
    audio_sha256: str | None

    def to_spotify(self) -> dict[str, Any]:
        """A Spotify-like track object (the fields backbeat knows)."""
        return {
            "id": self.id,
            "type": "track",
            "uri": f"spotify:track:{self.id}",
            "name": self.name,
            "artists": [
                {**a, "type": "artist", "uri": f"spotify:artist:{a['id']}"} for a in self.artists
            ],
            "album": {"name": self.album} if self.album else None,
            "external_ids": {"isrc": self.isrc} if self.isrc else {},
            "genres": self.genres,
            "popularity": self.popularity,
            "has_audio": self.audio_sha256 is not None,
        }


@dataclass(frozen=True, slots=True)
class Job:
    track_id: str
    audio_sha256: str
    status: str
    attempts: int
    error_code: str | None


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    key_id: str
    name: str
    hash: str
    scopes: frozenset[str]
    created_at: dt.datetime
    revoked_at: dt.datetime | None


def _track(row: Any) -> TrackRecord:
    return TrackRecord(
        id=row.id,
        name=row.name,
        artists=json.loads(row.artists),
        isrc=row.isrc,
        album=row.album,
        genres=json.loads(row.genres),
        popularity=row.popularity,
        audio_path=row.audio_path,
        audio_sha256=row.audio_sha256,
    )


async def _take(conn: Any, row: Any, now: dt.datetime) -> Job | None:
    """Compare-and-set ``row`` to running with a new lease; ``None`` if someone was first."""
    taken = await conn.execute(
        analysis_jobs.update()
        .where(
            analysis_jobs.c.track_id == row.track_id,
            analysis_jobs.c.status == row.status,
            analysis_jobs.c.updated_at == row.updated_at,
        )
        .values(
            status="running",
            attempts=row.attempts + 1,
            lease_until=now + LEASE,
            updated_at=now,
        )
    )
    if taken.rowcount != 1:
        return None
    return Job(row.track_id, row.audio_sha256, "running", row.attempts + 1, None)


class Store:
    """Every query the service makes, on one engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # -- catalogue -------------------------------------------------------------

    async def upsert_track(self, track: TrackRecord) -> bool:
        """Insert or update a track; ``True`` when its audio changed (a new analysis is due)."""
        now = _now()
        values = {
            "name": track.name,
            "artists": json.dumps(track.artists),
            "isrc": track.isrc,
            "album": track.album,
            "genres": json.dumps(track.genres),
            "popularity": track.popularity,
            "updated_at": now,
        }
        if track.audio_sha256 is not None:
            values["audio_path"] = track.audio_path
            values["audio_sha256"] = track.audio_sha256
        async with self.engine.begin() as conn:
            current = (
                await conn.execute(sa.select(tracks.c.audio_sha256).where(tracks.c.id == track.id))
            ).first()
            if current is None:
                await conn.execute(tracks.insert().values(id=track.id, created_at=now, **values))
            else:
                await conn.execute(tracks.update().where(tracks.c.id == track.id).values(**values))
            changed = track.audio_sha256 is not None and (
                current is None or current.audio_sha256 != track.audio_sha256
            )
            if changed:
                await conn.execute(
                    track_analyses.delete().where(track_analyses.c.track_id == track.id)
                )
                await conn.execute(
                    analysis_jobs.delete().where(analysis_jobs.c.track_id == track.id)
                )
                await conn.execute(
                    analysis_jobs.insert().values(
                        track_id=track.id,
                        audio_sha256=track.audio_sha256,
                        status="queued",
                        attempts=0,
                        not_before=now,
                        updated_at=now,
                    )
                )
        return changed

    async def track(self, track_id: str) -> TrackRecord | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(tracks).where(tracks.c.id == track_id))).first()
        return _track(row) if row is not None else None

    async def track_id_for_isrc(self, isrc: str) -> str | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(tracks.c.id).where(tracks.c.isrc == isrc).order_by(tracks.c.id)
                )
            ).first()
        return row.id if row is not None else None

    # -- results ------------------------------------------------------------------

    async def results(self, track_ids: list[str], column: str) -> dict[str, dict[str, Any]]:
        """``{track_id: features or analysis}`` for the analysed ones among ``track_ids``."""
        if not track_ids:
            return {}
        selected = track_analyses.c[column]
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(track_analyses.c.track_id, selected).where(
                    track_analyses.c.track_id.in_(track_ids)
                )
            )
            return {row[0]: json.loads(row[1]) for row in rows}

    async def jobs(self, track_ids: list[str]) -> dict[str, Job]:
        if not track_ids:
            return {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(analysis_jobs).where(analysis_jobs.c.track_id.in_(track_ids))
            )
            return {
                r.track_id: Job(r.track_id, r.audio_sha256, r.status, r.attempts, r.error_code)
                for r in rows
            }

    async def queue_depth(self) -> int:
        async with self.engine.connect() as conn:
            value = await conn.scalar(
                sa.select(sa.func.count()).where(analysis_jobs.c.status.in_(("queued", "running")))
            )
        return int(value or 0)

    # -- the job queue ----------------------------------------------------------

    async def claim(self) -> Job | None:
        """Take the oldest due job (queued, or running with an expired lease)."""
        now = _now()
        due = sa.or_(
            sa.and_(analysis_jobs.c.status == "queued", analysis_jobs.c.not_before <= now),
            sa.and_(analysis_jobs.c.status == "running", analysis_jobs.c.lease_until < now),
        )
        async with self.engine.begin() as conn:
            candidates = (
                await conn.execute(
                    sa.select(analysis_jobs)
                    .where(due)
                    .order_by(analysis_jobs.c.not_before)
                    .limit(5)
                )
            ).all()
            for row in candidates:
                job = await _take(conn, row, now)
                if job is not None:
                    return job
        return None

    async def claim_track(self, track_id: str, audio_sha256: str) -> Job | None:
        """Claim this track's job if it is due (queued, or running with an expired lease)."""
        now = _now()
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(analysis_jobs).where(
                        analysis_jobs.c.track_id == track_id,
                        analysis_jobs.c.audio_sha256 == audio_sha256,
                    )
                )
            ).first()
            if row is None:
                return None
            lease = _aware(row.lease_until)
            due = row.status == "queued" or (
                row.status == "running" and lease is not None and lease < now
            )
            # Queued counts as due whatever its not_before: arq's Retry already waited.
            return await _take(conn, row, now) if due else None

    async def complete(self, job: Job, features: dict[str, Any], analysis: dict[str, Any]) -> bool:
        """Store the result if the track still has the audio the job analysed."""
        now = _now()
        async with self.engine.begin() as conn:
            current = (
                await conn.execute(
                    sa.select(tracks.c.audio_sha256).where(tracks.c.id == job.track_id)
                )
            ).first()
            if current is None or current.audio_sha256 != job.audio_sha256:
                return False  # the audio changed meanwhile: a newer job exists
            await conn.execute(
                track_analyses.delete().where(track_analyses.c.track_id == job.track_id)
            )
            await conn.execute(
                track_analyses.insert().values(
                    track_id=job.track_id,
                    audio_sha256=job.audio_sha256,
                    features=json.dumps(features),
                    analysis=json.dumps(analysis),
                    analyzed_at=now,
                )
            )
            await conn.execute(
                analysis_jobs.update()
                .where(
                    analysis_jobs.c.track_id == job.track_id,
                    analysis_jobs.c.audio_sha256 == job.audio_sha256,
                )
                .values(status="done", lease_until=None, error_code=None, updated_at=now)
            )
        return True

    async def fail(self, job: Job, error_code: str, *, retryable: bool) -> None:
        """Record a failed attempt: retry later (exponential backoff) or give up."""
        now = _now()
        final = not retryable or job.attempts >= MAX_ATTEMPTS
        delay = dt.timedelta(seconds=2**job.attempts)
        async with self.engine.begin() as conn:
            await conn.execute(
                analysis_jobs.update()
                .where(
                    analysis_jobs.c.track_id == job.track_id,
                    analysis_jobs.c.audio_sha256 == job.audio_sha256,
                )
                .values(
                    status="failed" if final else "queued",
                    not_before=now + delay,
                    lease_until=None,
                    error_code=error_code,
                    updated_at=now,
                )
            )

    # -- listening events -------------------------------------------------------

    async def add_events(self, rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        async with self.engine.begin() as conn:
            await conn.execute(listening_events.insert(), rows)
        return len(rows)

    async def events(self) -> list[dict[str, Any]]:
        """Every stored event, oldest first (for training)."""
        async with self.engine.connect() as conn:
            result = await conn.execute(
                sa.select(listening_events).order_by(listening_events.c.timestamp)
            )
            return [dict(row._mapping) for row in result]

    # -- API keys ---------------------------------------------------------------

    async def add_api_key(
        self, key_id: str, name: str, digest: str, scopes: frozenset[str]
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                api_keys.insert().values(
                    key_id=key_id,
                    name=name,
                    hash=digest,
                    scopes=",".join(sorted(scopes)),
                    created_at=_now(),
                )
            )

    async def api_key(self, key_id: str) -> ApiKeyRecord | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id))
            ).first()
        return _key(row) if row is not None else None

    async def api_keys(self) -> list[ApiKeyRecord]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at))
            return [_key(r) for r in rows]

    async def revoke_api_key(self, key_id: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                api_keys.update()
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            )
        return bool(result.rowcount)


def _key(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=row.key_id,
        name=row.name,
        hash=row.hash,
        scopes=frozenset(s for s in row.scopes.split(",") if s),
        created_at=_aware(row.created_at) or _now(),
        revoked_at=_aware(row.revoked_at),
    )


async def catalogue_rows(store: Store) -> list[tuple[TrackRecord, dict[str, Any] | None]]:
    """Every track with its analysed features (``None`` when not analysed)."""
    async with store.engine.connect() as conn:
        rows = (await conn.execute(sa.select(tracks).order_by(tracks.c.id))).all()
        analysed = {
            r.track_id: json.loads(r.features)
            for r in await conn.execute(
                sa.select(track_analyses.c.track_id, track_analyses.c.features)
            )
        }
    return [(_track(row), analysed.get(row.id)) for row in rows]


async def catalogue_fingerprint(store: Store) -> tuple[Any, ...]:
    """Changes whenever a track or an analysis is added or updated (by any process)."""
    async with store.engine.connect() as conn:
        t = (await conn.execute(sa.select(sa.func.count(), sa.func.max(tracks.c.updated_at)))).one()
        a = (
            await conn.execute(
                sa.select(sa.func.count(), sa.func.max(track_analyses.c.analyzed_at))
            )
        ).one()
    return (t[0], str(t[1]), a[0], str(a[1]))
