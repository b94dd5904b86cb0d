"""The analysis worker: takes jobs, analyses the audio, stores the result.

In-process by default (a task inside ``backbeat serve``), or ``backbeat worker``
processes (database polling, or jobs carried by Redis, see ``_queue.py``).
Analysis runs in a worker thread so the event loop keeps serving. Jobs are
idempotent (a result is stored only if the track still has the audio that was
analysed), retried with exponential backoff on unexpected errors, and given up at
once on audio that cannot be decoded; a job whose worker died is taken again when
its lease expires.

The worker logs one line when it starts and one per job (logger
``backbeat.worker``), refreshes a heartbeat row every ``heartbeat_s`` so that
``/health`` lists live workers, and reports each outcome through ``on_outcome``
(the service counts them in its metrics) without knowing who listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from backbeat.catalogue._jobs import JobRepository
from backbeat.catalogue._media import MediaStore
from backbeat.catalogue._records import Job, WorkerBeat, now
from backbeat.catalogue._tracks import TrackRepository
from backbeat.catalogue._trainer import Trainer
from backbeat.errors import BackbeatError

__all__ = ["HEARTBEAT_S", "AnalysisWorker", "alive_window"]

log = logging.getLogger("backbeat.worker")
HEARTBEAT_S = 10.0

#: ``on_outcome(outcome, seconds)``: ``outcome`` is ``done``, ``retry`` or ``failed``.
OutcomeHook = Callable[[str, float], None]
#: ``on_realtime(audio_seconds, wall_seconds)`` after each successful analysis.
RealtimeHook = Callable[[float, float], None]


class AnalysisWorker:
    """Runs analysis jobs from ``jobs`` on audio in ``media``; one per process or task."""

    def __init__(
        self,
        jobs: JobRepository,
        tracks: TrackRepository,
        media: MediaStore,
        *,
        wake: asyncio.Event | None = None,
        on_result: Callable[[str], Awaitable[None]] | None = None,
        on_outcome: OutcomeHook | None = None,
        on_realtime: RealtimeHook | None = None,
        idle_poll_s: float = 1.0,
        mode: str = "embedded",
        heartbeat_s: float = HEARTBEAT_S,
        training: Trainer | None = None,
        packager: Callable[[Path, str], Awaitable[None]] | None = None,
    ) -> None:
        self.jobs = jobs
        self.tracks = tracks
        self.media = media
        self.wake = wake if wake is not None else asyncio.Event()
        self.on_result = on_result
        self.on_outcome = on_outcome
        self.on_realtime = on_realtime
        self._audio_s = 0.0
        self.idle_poll_s = idle_poll_s
        self.mode = mode
        self.heartbeat_s = heartbeat_s
        self.training = training
        #: ``packager(audio_path, audio_sha256)``: the streaming ladder, made in the same job
        #: (same lease, retries and outcome) before the analysis is stored
        self.packager = packager
        self.processed = 0
        self.failed = 0
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.started_at = now()
        self._last_beat = 0.0

    # -- heartbeats ----------------------------------------------------------------

    async def heartbeat(self, *, force: bool = False) -> None:
        """Refresh this worker's heartbeat row (at most every ``heartbeat_s`` unless forced)."""
        if not force and time.monotonic() - self._last_beat < self.heartbeat_s:
            return
        self._last_beat = time.monotonic()
        await self.jobs.beat(
            WorkerBeat(
                worker_id=self.worker_id,
                host=socket.gethostname(),
                pid=os.getpid(),
                mode=self.mode,
                started_at=self.started_at,
                seen_at=now(),
                processed=self.processed,
            )
        )

    async def start(self) -> None:
        """Announce the worker: a log line and its first heartbeat."""
        log.info("analysis worker %s started (%s)", self.worker_id, self.mode)
        await self.heartbeat(force=True)

    async def stop(self) -> None:
        """Log the totals and remove the heartbeat (best effort: the database may be gone)."""
        log.info(
            "analysis worker %s stopped: %d job(s) done, %d failed",
            self.worker_id,
            self.processed,
            self.failed,
        )
        with contextlib.suppress(OSError, BackbeatError, RuntimeError):
            await self.jobs.retire(self.worker_id)

    # -- jobs ----------------------------------------------------------------------

    async def run_once(self) -> bool:
        """Process one due job; ``False`` when there was none."""
        await self.heartbeat()
        job = await self.jobs.claim()
        if job is None:
            if self.training is not None:
                return await self.training.run_one()
            return False
        await self.process(job)
        return True

    async def process(self, job: Job) -> str:
        """Analyse a claimed job; ``"done"``, ``"retry"`` or ``"failed"``."""
        started = time.perf_counter()
        self._audio_s = 0.0
        outcome, detail = await self._attempt(job)
        elapsed = time.perf_counter() - started
        level = logging.INFO if outcome == "done" else logging.WARNING
        log.log(
            level,
            "job %s (attempt %d): %s in %.2f s%s",
            job.track_id,
            job.attempts,
            outcome,
            elapsed,
            f" [{detail}]" if detail else "",
        )
        if outcome == "failed":
            self.failed += 1
        if self.on_outcome is not None:
            self.on_outcome(outcome, elapsed)
        if outcome == "done" and self.on_realtime is not None and self._audio_s > 0:
            self.on_realtime(self._audio_s, elapsed)
        return outcome

    async def _attempt(self, job: Job) -> tuple[str, str | None]:
        from backbeat.audio import analyze_all

        track = await self.tracks.get(job.track_id)
        if track is None or track.audio_path is None:
            await self.jobs.fail(job, "not_found", retryable=False)
            return "failed", "not_found"
        try:
            path = self.media.path(track.audio_path)
            features, analysis = await anyio.to_thread.run_sync(analyze_all, path)
        except BackbeatError as exc:
            await self.jobs.fail(job, exc.code, retryable=exc.retryable)
            return ("retry" if exc.retryable else "failed"), exc.code
        except (OSError, MemoryError, RuntimeError, ValueError) as exc:
            await self.jobs.fail(job, "audio.analysis_failed", retryable=True)
            return "retry", f"audio.analysis_failed: {type(exc).__name__}: {exc}"
        if self.packager is not None and track.audio_sha256:
            try:
                await self.packager(path, track.audio_sha256)
            except BackbeatError as exc:
                await self.jobs.fail(job, exc.code, retryable=exc.retryable)
                return ("retry" if exc.retryable else "failed"), exc.code
            except (OSError, MemoryError, RuntimeError, ValueError) as exc:
                await self.jobs.fail(job, "streaming.packaging_failed", retryable=True)
                return "retry", f"streaming.packaging_failed: {type(exc).__name__}: {exc}"
        self._audio_s = float(features.duration_ms) / 1000.0
        stored = await self.jobs.complete(job, features.to_dict(), analysis.to_dict())
        self.processed += 1
        if stored and self.on_result is not None:
            await self.on_result(job.track_id)
        return "done", None if stored else "superseded by newer audio"

    async def drain(self) -> int:
        """Process every due job, then return how many were taken."""
        taken = 0
        while await self.run_once():
            taken += 1
        return taken

    async def run(self) -> None:
        """Forever: drain due jobs, then sleep until woken or the poll interval passes."""
        await self.start()
        try:
            while True:
                try:
                    await self.drain()
                except (OSError, BackbeatError) as exc:  # database hiccup: log and keep going
                    log.warning("worker %s: %s: %s", self.worker_id, type(exc).__name__, exc)
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=self.idle_poll_s)
        finally:
            with anyio.CancelScope(shield=True):
                await self.stop()


def alive_window(heartbeat_s: float = HEARTBEAT_S) -> dt.timedelta:
    """How recent a heartbeat must be for its worker to count as alive (three beats)."""
    return dt.timedelta(seconds=3 * heartbeat_s)
