"""The service's Prometheus metrics, right under several processes.

``ServiceMetrics`` declares every series the service exports (RED per route template,
analysis, queue, cache levels, rate-limiter decisions, recommendation latency,
database pool, sessions and stream QoS). Label values are bounded: route *templates*,
methods, status codes, outcomes, cache levels; never a user, key or track id.

Several processes (``backbeat serve --workers N``, ``backbeat worker``) share one
directory of prometheus_client's multiprocess files (``PROMETHEUS_MULTIPROC_DIR``, set
by ``backbeat serve`` before its workers start); a scrape of any process then reads
every process's files and reports the service, not the worker that answered.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = [
    "CONTENT_TYPE_LATEST",
    "LATENCY_BUCKETS",
    "MULTIPROC_ENV",
    "ServiceMetrics",
    "Snapshot",
    "multiprocess_dir",
    "prepare_multiprocess_dir",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Seconds; dense around a 50 ms objective so that latency SLOs at 25, 50, 75 or 100 ms
#: read exact counts from a bucket boundary.
LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


#: sample name -> [(labels, value)], one collection's worth
Snapshot = dict[str, list[tuple[dict[str, str], float]]]


def multiprocess_dir() -> Path | None:
    """The shared metrics directory when multiprocess mode is on, else ``None``."""
    value = os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower())
    return Path(value) if value else None


def prepare_multiprocess_dir(path: Path) -> Path:
    """Create (or empty) ``path`` and point this process and its children at it.

    Called by ``backbeat serve`` before any worker process starts: prometheus_client
    chooses its value storage when it is first imported in a process, so the variable
    must be in the environment the workers inherit. Files from a previous run are
    removed: their counters belong to processes that no longer exist.
    """
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def _mode(kind: str) -> dict[str, Any]:
    """Gauge aggregation across processes (ignored in single-process mode)."""
    return {"multiprocess_mode": kind}


class ServiceMetrics:
    """Every series of one service (an app, a worker), in its own registry.

    In single-process mode the registry holds the values; in multiprocess mode the
    values live in the shared directory and :meth:`exposition` aggregates them.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "backbeat_http_requests_total",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "backbeat_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.analysis = Histogram(
            "backbeat_analysis_duration_seconds",
            "Wall time of one track analysis (decode to stored result).",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=r,
        )
        self.analysis_outcomes = Counter(
            "backbeat_analysis_jobs_total",
            "Analysis attempts by outcome (done, retry, failed).",
            ["outcome"],
            registry=r,
        )
        self.realtime_factor = Histogram(
            "backbeat_analysis_realtime_factor",
            "Seconds of audio analysed per second of wall time, per track.",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
            registry=r,
        )
        self.queue_depth = Gauge(
            "backbeat_analysis_queue_depth",
            "Analysis jobs queued or running (read at scrape time).",
            registry=r,
            **_mode("mostrecent"),
        )
        self.oldest_job_age = Gauge(
            "backbeat_analysis_oldest_queued_seconds",
            "Age of the oldest queued analysis job (0 when none).",
            registry=r,
            **_mode("mostrecent"),
        )
        self.privacy_requests = Gauge(
            "backbeat_privacy_requests",
            "Open data-subject requests past their due date (overdue) or due within 7 days.",
            ["state"],
            registry=r,
            **_mode("mostrecent"),
        )
        self.cache = Counter(
            "backbeat_cache_requests_total",
            "Cache look-ups by level (l1, l2) and result (hit, miss).",
            ["level", "result"],
            registry=r,
        )
        self.limiter = Counter(
            "backbeat_ratelimit_decisions_total",
            "Rate-limiter decisions (allowed, refused).",
            ["decision"],
            registry=r,
        )
        self.recommendation = Histogram(
            "backbeat_recommendation_duration_seconds",
            "Time to rank one recommendation request inside the service.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.db_pool = Gauge(
            "backbeat_db_pool_connections",
            "Database pool connections by state (checked_out, idle), summed over processes.",
            ["state"],
            registry=r,
            **_mode("livesum"),
        )
        self.session_processing = Histogram(
            "backbeat_session_processing_seconds",
            "Processing time reported per user session (track_session).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.session_quality = Histogram(
            "backbeat_session_quality_score",
            "Quality score (0-1) reported per user session or stream sample.",
            buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
            registry=r,
        )
        self.stream_latency = Histogram(
            "backbeat_stream_latency_seconds",
            "Playback latency reported by clients (track_metrics).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stream_bitrate = Histogram(
            "backbeat_stream_bitrate_kbps",
            "Playback bitrate reported by clients (track_metrics).",
            buckets=(32, 64, 96, 128, 160, 192, 256, 320, 512),
            registry=r,
        )
        self.playback_startup = Histogram(
            "backbeat_playback_startup_seconds",
            "Players' start-up time: start to first audio (playback telemetry).",
            buckets=(0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10),
            registry=r,
        )
        self.playback_stall = Histogram(
            "backbeat_playback_stall_seconds",
            "Duration of each stall players reported.",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.playback_seconds = Counter(
            "backbeat_playback_seconds_total",
            "Seconds played and stalled (rebuffer ratio = stalled / (played + stalled)).",
            ["state"],
            registry=r,
        )
        self.playback_events = Counter(
            "backbeat_playback_events_total",
            "Playback telemetry events by type.",
            ["type"],
            registry=r,
        )
        self.alert_notifications = Counter(
            "backbeat_alert_notifications_total",
            "Alert deliveries by receiver type and outcome (sent, retried, failed).",
            ["receiver", "outcome"],
            registry=r,
        )
        self._cache_seen: dict[tuple[str, str], int] = {}

    # hooks --------------------------------------------------------------------------
    def set_privacy_requests(self, *, overdue: int, due_soon: int) -> None:
        """The privacy maintenance loop's counts of open requests by deadline."""
        self.privacy_requests.labels("overdue").set(overdue)
        self.privacy_requests.labels("due_soon").set(due_soon)

    def observe_playback(self, measures: Any) -> None:
        """What one telemetry batch measured (see ``catalogue.PlaybackRepository``)."""
        for seconds in measures.startup_s:
            self.playback_startup.observe(seconds)
        for seconds in measures.stalls_s:
            self.playback_stall.observe(seconds)
        if measures.played_s:
            self.playback_seconds.labels("played").inc(measures.played_s)
        if measures.stalls_s:
            self.playback_seconds.labels("stalled").inc(sum(measures.stalls_s))
        for kbps in measures.bitrates_kbps:
            self.stream_bitrate.observe(kbps)
        for kind, n in measures.types.items():
            self.playback_events.labels(kind).inc(n)

    def observe_analysis(self, outcome: str, seconds: float) -> None:
        """The analysis worker's ``on_outcome`` hook."""
        self.analysis_outcomes.labels(outcome).inc()
        if outcome == "done":
            self.analysis.observe(seconds)

    def observe_realtime(self, audio_s: float, wall_s: float) -> None:
        """The analysis worker's ``on_realtime`` hook."""
        if audio_s > 0 and wall_s > 0:
            self.realtime_factor.observe(audio_s / wall_s)

    def observe_limiter(self, allowed: bool) -> None:
        self.limiter.labels("allowed" if allowed else "refused").inc()

    def sync_cache(self, levels: dict[str, Any]) -> None:
        """Export the cache levels' own counters (``CacheStats``) as counter increments."""
        for level, stats in levels.items():
            for result, value in (("hit", stats.hits), ("miss", stats.misses)):
                key = (level, result)
                delta = value - self._cache_seen.get(key, 0)
                if delta > 0:
                    self.cache.labels(level, result).inc(delta)
                self._cache_seen[key] = value

    def set_pool(self, checked_out: int, idle: int) -> None:
        self.db_pool.labels("checked_out").set(checked_out)
        self.db_pool.labels("idle").set(idle)

    # exposition ---------------------------------------------------------------------
    def collecting_registry(self) -> CollectorRegistry:
        """What a scrape reads: every process's files in multiprocess mode, else ours."""
        directory = multiprocess_dir()
        if directory is None:
            return self.registry
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
        return registry

    def exposition(self) -> bytes:
        """The Prometheus text format of :meth:`collecting_registry`."""
        return generate_latest(self.collecting_registry())

    def snapshot(self) -> Snapshot:
        """Every sample by name, ``(labels, value)``, from one collection (every process's
        files in multiprocess mode: read it once per evaluation, off the event loop)."""
        out: Snapshot = {}
        for family in self.collecting_registry().collect():
            for sample in family.samples:
                out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
        return out

    def samples(self, name: str) -> list[tuple[dict[str, str], float]]:
        """``(labels, value)`` of every sample called ``name``."""
        return self.snapshot().get(name, [])


def mark_process_dead(pid: int | None = None) -> None:
    """Drop this process's live gauges from the shared directory (at shutdown)."""
    if multiprocess_dir() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid if pid is not None else os.getpid())  # type: ignore[no-untyped-call]
