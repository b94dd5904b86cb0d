"""The Redis job queue (arq), used when ``REDIS_URL`` is set.

The ``analysis_jobs`` table stays the source of truth (status for the 202s, leases,
attempts); Redis carries the work to ``backbeat worker`` processes on any number
of machines without polling the database: each new or changed audio enqueues
``analyze_track(track_id, sha256)`` with a deterministic job id (enqueuing twice is
a no-op), a worker claims that job's row (compare-and-set, so a job also taken by a
database-polling worker runs once) and analyses it. Transient failures are retried by
arq with exponential backoff (``Retry(defer=2**try)``) up to 4 tries; a worker that
dies mid-job leaves the job in Redis and its row's lease expiring, so another worker
runs it again. Job payloads are JSON, never pickle (arq's default).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from backbeat.catalogue._worker import AnalysisWorker

__all__ = ["QUEUE_NAME", "RedisQueue", "analyze_track", "run_redis_worker", "train_model"]

QUEUE_NAME = "backbeat:analysis"
MAX_TRIES = 4


def _dumps(value: dict[str, Any]) -> bytes:
    return json.dumps(value, default=str).encode()


def _loads(raw: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw)
    return data


class RedisQueue:
    """Enqueues analysis jobs on Redis for ``backbeat worker`` processes."""

    def __init__(self, redis_url: str, queue_name: str = QUEUE_NAME) -> None:
        self.redis_url = redis_url
        self.queue_name = queue_name
        self._pool: Any = None

    async def _connect(self) -> Any:
        from arq.connections import RedisSettings, create_pool

        if self._pool is None:
            self._pool = await create_pool(
                RedisSettings.from_dsn(self.redis_url),
                job_serializer=_dumps,
                job_deserializer=_loads,
                default_queue_name=self.queue_name,
            )
        return self._pool

    async def enqueue(self, track_id: str, audio_sha256: str) -> None:
        pool = await self._connect()
        await pool.enqueue_job(
            "analyze_track", track_id, audio_sha256, _job_id=f"analyze:{track_id}:{audio_sha256}"
        )

    async def enqueue_training(self, job_id: str) -> None:
        """Put a training job (its row already queued) on the Redis queue."""
        pool = await self._connect()
        await pool.enqueue_job("train_model", job_id, _job_id=f"train:{job_id}")

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None


async def analyze_track(ctx: dict[str, Any], track_id: str, audio_sha256: str) -> str:
    """The arq job: claim this track's queued row, analyse, store; retry when transient."""
    from arq.worker import Retry

    worker: AnalysisWorker = ctx["worker"]
    await worker.heartbeat()
    job = await worker.jobs.claim_track(track_id, audio_sha256)
    if job is None:
        return "skipped"  # done already, superseded by newer audio, or running elsewhere
    outcome: str = await worker.process(job)
    if outcome == "retry" and ctx.get("job_try", 1) < MAX_TRIES:
        raise Retry(defer=2 ** ctx.get("job_try", 1))
    return outcome


async def train_model(ctx: dict[str, Any], job_id: str) -> str:
    """The arq job: claim this training row and run it (retries: the row's own backoff)."""
    worker: AnalysisWorker = ctx["worker"]
    await worker.heartbeat()
    if worker.training is None:
        return "skipped"  # a worker without a registry; the table keeps the job
    job = await worker.training.jobs.claim(job_id)
    if job is None:
        return "skipped"
    return await worker.training.run(job)


async def run_redis_worker(
    worker: AnalysisWorker, redis_url: str, *, burst: bool, queue_name: str = QUEUE_NAME
) -> int:
    """Run an arq worker whose jobs use ``worker``; with ``burst`` it returns once the
    queue is empty. Returns the jobs it completed."""
    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    arq_worker = Worker(
        functions=[
            func(analyze_track, name="analyze_track", max_tries=MAX_TRIES, timeout=600),
            func(train_model, name="train_model", max_tries=1, timeout=3600),
        ],
        queue_name=queue_name,
        redis_settings=RedisSettings.from_dsn(redis_url),
        burst=burst,
        ctx={"worker": worker},
        job_serializer=_dumps,
        job_deserializer=_loads,
        handle_signals=False,
        keep_result=60,
        poll_delay=0.2,
    )

    async def beat() -> None:  # idle arq workers run no job code: keep the heartbeat alive
        while True:
            await asyncio.sleep(worker.heartbeat_s)
            await worker.heartbeat(force=True)

    beating = asyncio.create_task(beat(), name="backbeat-worker-heartbeat")
    try:
        await arq_worker.async_run()
    finally:
        beating.cancel()
        # arq's own close() calls redis-py's deprecated close(); do its work here.
        await asyncio.gather(*arq_worker.tasks.values())
        if arq_worker._pool is not None:
            await arq_worker.pool.delete(arq_worker.health_check_key)
            await arq_worker.pool.aclose(close_connection_pool=True)
            arq_worker._pool = None
    return int(arq_worker.jobs_complete)
