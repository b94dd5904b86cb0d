"""The analysis worker: takes jobs from the queue table, analyses, stores the result.

In-process by default (a task inside ``backbeat serve``); analysis itself runs in a
worker thread so the event loop keeps serving. Jobs are idempotent (a result is
stored only if the track still has the audio that was analysed), retried with
exponential backoff on unexpected errors, and given up at once on audio that cannot
be decoded; a job whose worker died is taken again when its lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import anyio

from backbeat.errors import BackbeatError
from backbeat.server._metrics import Metrics
from backbeat.server._store import Job, Store
from backbeat.server._tracks import media_path
from backbeat.settings import Settings

__all__ = ["AnalysisWorker"]

log = logging.getLogger("backbeat.worker")


class AnalysisWorker:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        wake: asyncio.Event,
        on_result: Callable[[str], Awaitable[None]] | None = None,
        idle_poll_s: float = 1.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.wake = wake
        self.on_result = on_result
        self.idle_poll_s = idle_poll_s
        self.processed = 0
        self.metrics = metrics

    async def run_once(self) -> bool:
        """Process one due job; ``False`` when there was none."""
        job = await self.store.claim()
        if job is None:
            return False
        await self.process(job)
        return True

    async def process(self, job: Job) -> str:
        """Analyse a claimed job; ``"done"``, ``"retry"`` or ``"failed"``."""
        started = time.perf_counter()
        outcome = await self._attempt(job)
        if self.metrics is not None:
            self.metrics.analysis_outcomes.labels(outcome).inc()
            if outcome == "done":
                self.metrics.analysis.observe(time.perf_counter() - started)
        return outcome

    async def _attempt(self, job: Job) -> str:
        from backbeat.audio import analyze_all

        track = await self.store.track(job.track_id)
        if track is None or track.audio_path is None:
            await self.store.fail(job, "not_found", retryable=False)
            return "failed"
        path = media_path(self.settings, track.audio_path)
        try:
            features, analysis = await anyio.to_thread.run_sync(analyze_all, path)
        except BackbeatError as exc:
            log.info("analysis of %s failed: %s", job.track_id, exc.code)
            await self.store.fail(job, exc.code, retryable=exc.retryable)
            return "retry" if exc.retryable else "failed"
        except (OSError, MemoryError, RuntimeError, ValueError) as exc:
            log.warning("analysis of %s failed (%s); will retry", job.track_id, type(exc).__name__)
            await self.store.fail(job, "audio.analysis_failed", retryable=True)
            return "retry"
        stored = await self.store.complete(job, features.to_dict(), analysis.to_dict())
        self.processed += 1
        if stored and self.on_result is not None:
            await self.on_result(job.track_id)
        return "done"

    async def run(self) -> None:
        """Forever: drain due jobs, then sleep until woken or the poll interval passes."""
        while True:
            try:
                while await self.run_once():
                    pass
            except (OSError, BackbeatError) as exc:  # database hiccup: log and keep going
                log.warning("worker: %s", type(exc).__name__)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.idle_poll_s)
