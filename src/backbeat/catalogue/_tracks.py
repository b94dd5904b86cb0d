"""Tracks and their analysis results (one aggregate: an analysis belongs to its track's audio).

Plain SQLAlchemy Core on the async engine, the same statements on SQLite and
PostgreSQL. Registering new audio for a track clears its old results and queues a
new job in the same transaction.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from backbeat.catalogue._records import TrackRecord, now
from backbeat.storage import analysis_jobs, track_analyses, tracks

__all__ = ["TrackRepository"]


class TrackRepository:
    """Tracks, their metadata and their stored analyses."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def upsert(self, track: TrackRecord) -> bool:
        """Insert or update a track; ``True`` when its audio changed (a new analysis is due)."""
        stamp = now()
        values = {
            "name": track.name,
            "artists": json.dumps(track.artists),
            "isrc": track.isrc,
            "album": track.album,
            "genres": json.dumps(track.genres),
            "popularity": track.popularity,
            "updated_at": stamp,
        }
        if track.audio_sha256 is not None:
            values["audio_path"] = track.audio_path
            values["audio_sha256"] = track.audio_sha256
        async with self.engine.begin() as conn:
            current = (
                await conn.execute(sa.select(tracks.c.audio_sha256).where(tracks.c.id == track.id))
            ).first()
            if current is None:
                await conn.execute(tracks.insert().values(id=track.id, created_at=stamp, **values))
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
                        not_before=stamp,
                        updated_at=stamp,
                    )
                )
        return changed

    async def get(self, track_id: str) -> TrackRecord | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(tracks).where(tracks.c.id == track_id))).first()
        return TrackRecord.from_row(row) if row is not None else None

    async def many(self, track_ids: list[str]) -> dict[str, TrackRecord]:
        """``{id: record}`` for the registered ones among ``track_ids``."""
        if not track_ids:
            return {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(tracks).where(tracks.c.id.in_(set(track_ids))))
            return {row.id: TrackRecord.from_row(row) for row in rows}

    async def id_for_isrc(self, isrc: str) -> str | None:
        """The first registered track (by id) with this ISRC."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(tracks.c.id).where(tracks.c.isrc == isrc).order_by(tracks.c.id)
                )
            ).first()
        return row.id if row is not None else None

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

    async def page(
        self, *, query: str = "", limit: int = 20, offset: int = 0
    ) -> tuple[list[tuple[TrackRecord, str, dict[str, Any] | None]], int]:
        """Tracks by name (any case, then id), ``query`` matched case-insensitively in the name, the
        artists or the ISRC: ``([(record, analysis status, features or None)], total)``.
        The status is the analysis job's (``queued``, ``running``, ``done``, ``failed``) or
        ``no_audio``."""
        t, j, a = tracks.c, analysis_jobs.c, track_analyses.c
        where: Any = sa.true()
        if query:
            escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
            # artists are JSON [{"id", "name"}]: match after a "name" key, not in ids or keys
            where = sa.or_(
                sa.func.lower(t.name).like(pattern, escape="\\"),
                sa.func.lower(t.artists).like(f'%"name": "{pattern}', escape="\\"),
                sa.func.lower(sa.func.coalesce(t.isrc, "")).like(pattern, escape="\\"),
            )
        async with self.engine.connect() as conn:
            total = int(
                (
                    await conn.execute(sa.select(sa.func.count()).select_from(tracks).where(where))
                ).scalar_one()
            )
            rows = (
                await conn.execute(
                    sa.select(tracks, j.status.label("job_status"), a.features.label("done"))
                    .select_from(
                        tracks.outerjoin(analysis_jobs, j.track_id == t.id).outerjoin(
                            track_analyses, a.track_id == t.id
                        )
                    )
                    .where(where)
                    .order_by(sa.func.lower(t.name), t.id)
                    .limit(limit)
                    .offset(offset)
                )
            ).all()
        out = []
        for row in rows:
            features = json.loads(row.done) if row.done else None
            status = row.job_status or ("done" if features else "no_audio")
            out.append((TrackRecord.from_row(row), status, features))
        return out, total

    async def with_features(self) -> list[tuple[TrackRecord, dict[str, Any] | None]]:
        """Every track with its analysed features (``None`` when not analysed)."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(tracks).order_by(tracks.c.id))).all()
            analysed = {
                r.track_id: json.loads(r.features)
                for r in await conn.execute(
                    sa.select(track_analyses.c.track_id, track_analyses.c.features)
                )
            }
        return [(TrackRecord.from_row(row), analysed.get(row.id)) for row in rows]

    async def fingerprint(self) -> tuple[Any, ...]:
        """Changes whenever a track or an analysis is added or updated (by any process)."""
        async with self.engine.connect() as conn:
            t = (
                await conn.execute(sa.select(sa.func.count(), sa.func.max(tracks.c.updated_at)))
            ).one()
            a = (
                await conn.execute(
                    sa.select(sa.func.count(), sa.func.max(track_analyses.c.analyzed_at))
                )
            ).one()
        return (t[0], str(t[1]), a[0], str(a[1]))
