"""The analysis job queue as a table, and the workers' heartbeats.

``claim`` moves the oldest due job to ``running`` with a lease (compare-and-set on
the status, so two workers never take the same job); a worker that dies leaves an
expired lease, and the job is claimed again. Failed attempts are retried with
exponential backoff up to :data:`MAX_ATTEMPTS`. Each worker process refreshes a
heartbeat row while it runs, so ``/health`` can tell live workers from dead ones.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from backbeat.catalogue._records import Job, QueueStats, WorkerBeat, aware, now
from backbeat.storage import analysis_jobs, analysis_workers, track_analyses, tracks

__all__ = ["LEASE", "MAX_ATTEMPTS", "JobRepository"]

MAX_ATTEMPTS = 4
LEASE = dt.timedelta(minutes=5)


def _iso(value: dt.datetime | None) -> str | None:
    stamp = aware(value)
    return stamp.isoformat() if stamp is not None else None


def _job(row: Any) -> Job:
    return Job(row.track_id, row.audio_sha256, row.status, row.attempts, row.error_code)


async def _take(conn: Any, row: Any, stamp: dt.datetime) -> Job | None:
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
            lease_until=stamp + LEASE,
            updated_at=stamp,
        )
    )
    if taken.rowcount != 1:
        return None
    return Job(row.track_id, row.audio_sha256, "running", row.attempts + 1, None)


class JobRepository:
    """Analysis jobs (one per track's current audio) and worker heartbeats."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def for_tracks(self, track_ids: list[str]) -> dict[str, Job]:
        if not track_ids:
            return {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(analysis_jobs).where(analysis_jobs.c.track_id.in_(track_ids))
            )
            return {r.track_id: _job(r) for r in rows}

    async def depth(self) -> int:
        """Jobs queued or running."""
        return (await self.stats()).depth

    async def stats(self) -> QueueStats:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(analysis_jobs.c.status, sa.func.count()).group_by(analysis_jobs.c.status)
            )
            counts: dict[str, int] = {str(status): int(n) for status, n in rows}
            oldest = await conn.scalar(
                sa.select(sa.func.min(analysis_jobs.c.updated_at)).where(
                    analysis_jobs.c.status == "queued"
                )
            )
        return QueueStats(
            queued=int(counts.get("queued", 0)),
            running=int(counts.get("running", 0)),
            failed=int(counts.get("failed", 0)),
            oldest_queued_at=aware(oldest),
        )

    async def claim(self) -> Job | None:
        """Take the oldest due job (queued, or running with an expired lease)."""
        stamp = now()
        due = sa.or_(
            sa.and_(analysis_jobs.c.status == "queued", analysis_jobs.c.not_before <= stamp),
            sa.and_(analysis_jobs.c.status == "running", analysis_jobs.c.lease_until < stamp),
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
                job = await _take(conn, row, stamp)
                if job is not None:
                    return job
        return None

    async def claim_track(self, track_id: str, audio_sha256: str) -> Job | None:
        """Claim this track's job if it is due (queued, or running with an expired lease)."""
        stamp = now()
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
            lease = aware(row.lease_until)
            due = row.status == "queued" or (
                row.status == "running" and lease is not None and lease < stamp
            )
            # Queued counts as due whatever its not_before: arq's Retry already waited.
            return await _take(conn, row, stamp) if due else None

    async def complete(self, job: Job, features: dict[str, Any], analysis: dict[str, Any]) -> bool:
        """Store the result if the track still has the audio the job analysed."""
        stamp = now()
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
                    analyzed_at=stamp,
                )
            )
            await conn.execute(
                analysis_jobs.update()
                .where(
                    analysis_jobs.c.track_id == job.track_id,
                    analysis_jobs.c.audio_sha256 == job.audio_sha256,
                )
                .values(status="done", lease_until=None, error_code=None, updated_at=stamp)
            )
        return True

    async def fail(self, job: Job, error_code: str, *, retryable: bool) -> None:
        """Record a failed attempt: retry later (exponential backoff) or give up."""
        stamp = now()
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
                    not_before=stamp + delay,
                    lease_until=None,
                    error_code=error_code,
                    updated_at=stamp,
                )
            )

    async def failed(self, limit: int = 50) -> list[dict[str, Any]]:
        """Jobs that gave up, newest first, with their tracks' names (for operators)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(analysis_jobs, tracks.c.name)
                .join(tracks, tracks.c.id == analysis_jobs.c.track_id, isouter=True)
                .where(analysis_jobs.c.status == "failed")
                .order_by(analysis_jobs.c.updated_at.desc())
                .limit(limit)
            )
            return [
                {
                    "track_id": r.track_id,
                    "name": r.name,
                    "attempts": r.attempts,
                    "error_code": r.error_code,
                    "failed_at": _iso(r.updated_at),
                }
                for r in rows
            ]

    async def retry(self, track_id: str) -> Job | None:
        """Queue a failed job again with fresh attempts; ``None`` if it is not failed."""
        stamp = now()
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(analysis_jobs).where(
                        analysis_jobs.c.track_id == track_id, analysis_jobs.c.status == "failed"
                    )
                )
            ).first()
            if row is None:
                return None
            done = await conn.execute(
                analysis_jobs.update()
                .where(
                    analysis_jobs.c.track_id == track_id,
                    analysis_jobs.c.status == "failed",
                    analysis_jobs.c.updated_at == row.updated_at,
                )
                .values(
                    status="queued",
                    attempts=0,
                    not_before=stamp,
                    lease_until=None,
                    error_code=None,
                    updated_at=stamp,
                )
            )
            if done.rowcount != 1:
                return None
        return Job(row.track_id, row.audio_sha256, "queued", 0, None)

    # -- heartbeats --------------------------------------------------------------

    async def beat(self, beat: WorkerBeat) -> None:
        """Insert or refresh a worker's heartbeat row."""
        values = {
            "host": beat.host,
            "pid": beat.pid,
            "mode": beat.mode,
            "started_at": beat.started_at,
            "seen_at": beat.seen_at,
            "processed": beat.processed,
        }
        key = analysis_workers.c.worker_id == beat.worker_id
        async with self.engine.begin() as conn:
            updated = await conn.execute(analysis_workers.update().where(key).values(**values))
            if updated.rowcount == 0:
                await conn.execute(
                    analysis_workers.insert().values(worker_id=beat.worker_id, **values)
                )

    async def retire(self, worker_id: str) -> None:
        """Remove a worker's heartbeat (it stopped cleanly)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                analysis_workers.delete().where(analysis_workers.c.worker_id == worker_id)
            )

    async def workers(self, *, seen_within: dt.timedelta) -> list[WorkerBeat]:
        """Workers whose last heartbeat is within ``seen_within``; rows of workers silent
        for over an hour (they died without retiring) are pruned."""
        stamp = now()
        cutoff = stamp - seen_within
        forgotten = stamp - max(2 * seen_within, dt.timedelta(hours=1))
        async with self.engine.begin() as conn:
            await conn.execute(
                analysis_workers.delete().where(analysis_workers.c.seen_at < forgotten)
            )
            rows = await conn.execute(
                sa.select(analysis_workers)
                .where(analysis_workers.c.seen_at >= cutoff)
                .order_by(analysis_workers.c.started_at)
            )
            return [
                WorkerBeat(
                    worker_id=r.worker_id,
                    host=r.host,
                    pid=r.pid,
                    mode=r.mode,
                    started_at=aware(r.started_at) or cutoff,
                    seen_at=aware(r.seen_at) or cutoff,
                    processed=r.processed,
                )
                for r in rows
            ]
