"""Running training jobs: events in, a registered (maybe promoted) model out.

Used by :class:`AnalysisWorker` (when given a :class:`Trainer`, it takes training
jobs once no analysis is due) and by the Redis queue's ``train_model`` job. Fitting
runs in a worker thread. Each run logs one line (logger ``backbeat.worker``) with the
version, whether it was promoted and why.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio

from backbeat.catalogue._listening import EventRepository
from backbeat.catalogue._training import TrainingJob, TrainingJobRepository
from backbeat.errors import BackbeatError

__all__ = ["Trainer"]

log = logging.getLogger("backbeat.worker")


class Trainer:
    """Takes training jobs from ``jobs`` and trains on ``events`` into ``registry``."""

    def __init__(self, jobs: TrainingJobRepository, events: EventRepository, registry: Any) -> None:
        self.jobs = jobs
        self.events = events
        self.registry = registry  # a backbeat.recommend.ModelRegistry
        self.trained = 0

    async def run_one(self, job_id: str | None = None) -> bool:
        """Claim and run one due job (``job_id``: that one only); ``False`` if none."""
        job = await self.jobs.claim(job_id)
        if job is None:
            return False
        await self.run(job)
        return True

    async def run(self, job: TrainingJob) -> str:
        """Train a claimed job; ``"done"``, ``"retry"`` or ``"failed"``."""
        from backbeat.recommend import train_and_register

        started = time.perf_counter()
        try:
            events = await self.events.interactions()
            if not events:
                outcome = await self.jobs.fail(job, "recommend.no_events", retryable=False)
                log.warning("training %s (%s): no listening events [failed]", job.id, job.name)
                return outcome
            result = await anyio.to_thread.run_sync(
                lambda: train_and_register(
                    events, self.registry, job.name, job.recipe, promote=job.promote
                )
            )
        except BackbeatError as exc:
            outcome = await self.jobs.fail(job, exc.code, retryable=exc.retryable)
            log.warning("training %s (%s): %s [%s]", job.id, job.name, outcome, exc.code)
            return outcome
        except (OSError, MemoryError, RuntimeError, ValueError) as exc:
            outcome = await self.jobs.fail(job, "recommend.training_failed", retryable=True)
            log.warning(
                "training %s (%s): %s (%s: %s)", job.id, job.name, outcome, type(exc).__name__, exc
            )
            return outcome
        await self.jobs.finish(
            job,
            {
                "version": result.version.version,
                "promoted": result.promoted,
                "score": result.score,
                "production_score": result.production_score,
                "reason": result.reason,
                "events": len(events),
            },
        )
        self.trained += 1
        log.info(
            "training %s: %s v%d in %.1f s, %s (%s)",
            job.id,
            job.name,
            result.version.version,
            time.perf_counter() - started,
            "promoted" if result.promoted else "not promoted",
            result.reason,
        )
        return "done"
