"""Model training as jobs: requested over HTTP or by the schedule, run by the workers.

A training job fits a recipe (:func:`backbeat.recommend.build_recipe`) on every stored
listening event and registers the model in the service's registry, promoting it
when asked and when it is not worse than production on a time split
(:func:`backbeat.recommend.train_and_register`). The table follows the analysis
queue's discipline: compare-and-set claims, a lease (a dead worker's job is taken
again), exponential backoff, :data:`MAX_ATTEMPTS`; with Redis, ``train_model(id)`` is
also put on the arq queue so ``backbeat worker`` processes take it without polling.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from backbeat.catalogue._jobs import MAX_ATTEMPTS
from backbeat.catalogue._records import aware, now
from backbeat.storage import training_jobs

__all__ = ["TRAINING_LEASE", "TrainingJob", "TrainingJobRepository"]

TRAINING_LEASE = dt.timedelta(minutes=30)
_T = training_jobs.c


@dataclass(frozen=True, slots=True)
class TrainingJob:
    id: str
    name: str
    recipe: dict[str, Any]
    promote: bool
    status: str  # queued | running | done | failed
    attempts: int
    error_code: str | None
    result: dict[str, Any] | None
    requested_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "recipe": self.recipe,
            "promote": self.promote,
            "status": self.status,
            "attempts": self.attempts,
            "error_code": self.error_code,
            "result": self.result,
            "requested_by": self.requested_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def _job(row: Any) -> TrainingJob:
    return TrainingJob(
        id=row.id,
        name=row.name,
        recipe=json.loads(row.recipe),
        promote=bool(row.promote),
        status=row.status,
        attempts=row.attempts,
        error_code=row.error_code,
        result=json.loads(row.result) if row.result else None,
        requested_by=row.requested_by,
        created_at=aware(row.created_at) or now(),
        updated_at=aware(row.updated_at) or now(),
    )


class TrainingJobRepository:
    """Training jobs: request, claim, finish, look up."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def request(
        self,
        name: str,
        recipe: dict[str, Any],
        *,
        promote: bool,
        requested_by: str | None,
        unless_pending: bool = False,
    ) -> tuple[TrainingJob, bool]:
        """Queue a job; ``(job, created)``. With ``unless_pending``, a queued or running
        job for ``name`` is returned instead of a second one (the schedule uses this)."""
        stamp = now()
        async with self.engine.begin() as conn:
            if unless_pending:
                pending = (
                    await conn.execute(
                        sa.select(training_jobs)
                        .where(_T.name == name, _T.status.in_(("queued", "running")))
                        .order_by(_T.created_at)
                    )
                ).first()
                if pending is not None:
                    return _job(pending), False
            job_id = uuid.uuid4().hex
            await conn.execute(
                training_jobs.insert().values(
                    id=job_id,
                    name=name,
                    recipe=json.dumps(recipe, sort_keys=True),
                    promote=promote,
                    status="queued",
                    attempts=0,
                    not_before=stamp,
                    requested_by=requested_by,
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
            row = (await conn.execute(sa.select(training_jobs).where(_T.id == job_id))).one()
        return _job(row), True

    async def get(self, job_id: str) -> TrainingJob | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(training_jobs).where(_T.id == job_id))).first()
        return _job(row) if row is not None else None

    async def latest(self, name: str) -> TrainingJob | None:
        """The most recently requested job for ``name``."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(training_jobs)
                    .where(_T.name == name)
                    .order_by(_T.created_at.desc())
                    .limit(1)
                )
            ).first()
        return _job(row) if row is not None else None

    async def claim(self, job_id: str | None = None) -> TrainingJob | None:
        """Take ``job_id`` (or the oldest due job) if it is queued or its lease expired."""
        stamp = now()
        due = sa.or_(
            sa.and_(_T.status == "queued", _T.not_before <= stamp),
            sa.and_(_T.status == "running", _T.lease_until < stamp),
        )
        query = sa.select(training_jobs).order_by(_T.not_before).limit(3)
        query = query.where(_T.id == job_id) if job_id else query.where(due)
        async with self.engine.begin() as conn:
            for row in (await conn.execute(query)).all():
                lease = aware(row.lease_until)
                if job_id and not (
                    row.status == "queued"
                    or (row.status == "running" and lease is not None and lease < stamp)
                ):
                    return None
                taken = await conn.execute(
                    training_jobs.update()
                    .where(
                        _T.id == row.id, _T.status == row.status, _T.updated_at == row.updated_at
                    )
                    .values(
                        status="running",
                        attempts=row.attempts + 1,
                        lease_until=stamp + TRAINING_LEASE,
                        updated_at=stamp,
                    )
                )
                if taken.rowcount == 1:
                    fresh = (
                        await conn.execute(sa.select(training_jobs).where(_T.id == row.id))
                    ).one()
                    return _job(fresh)
        return None

    async def finish(self, job: TrainingJob, result: dict[str, Any]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                training_jobs.update()
                .where(_T.id == job.id)
                .values(
                    status="done",
                    lease_until=None,
                    error_code=None,
                    result=json.dumps(result),
                    updated_at=now(),
                )
            )

    async def fail(self, job: TrainingJob, error_code: str, *, retryable: bool) -> str:
        """Record a failed attempt; ``"retry"`` (backoff) or ``"failed"``."""
        stamp = now()
        final = not retryable or job.attempts >= MAX_ATTEMPTS
        async with self.engine.begin() as conn:
            await conn.execute(
                training_jobs.update()
                .where(_T.id == job.id)
                .values(
                    status="failed" if final else "queued",
                    not_before=stamp + dt.timedelta(seconds=2**job.attempts),
                    lease_until=None,
                    error_code=error_code,
                    updated_at=stamp,
                )
            )
        return "failed" if final else "retry"
