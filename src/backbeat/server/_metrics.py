"""``GET /metrics`` (Prometheus text format) and ``GET /ready``.

Per app (its own registry, so several apps in one process do not collide):
request counts and latency histograms by route template, method and status;
analysis durations and outcomes from the worker; at scrape time, the job queue's
depth and the cache's hit ratio (from its counters). ``/ready`` answers 200 only
when every configured backend does (database, Redis), 503 otherwise; ``/health``
is the liveness and backend report.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backbeat.server._deps import ServicesDep

__all__ = ["Metrics", "MetricsMiddleware", "router"]

router = APIRouter(tags=["operations"])


class Metrics:
    def observe_analysis(self, outcome: str, seconds: float) -> None:
        """The worker's ``on_outcome`` hook."""
        self.analysis_outcomes.labels(outcome).inc()
        if outcome == "done":
            self.analysis.observe(seconds)

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "backbeat_http_requests_total",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "backbeat_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["route", "method"],
            registry=self.registry,
        )
        self.analysis = Histogram(
            "backbeat_analysis_duration_seconds",
            "Wall time of one track analysis (decode to stored result).",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.analysis_outcomes = Counter(
            "backbeat_analysis_jobs_total",
            "Analysis attempts by outcome (done, retry, failed).",
            ["outcome"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "backbeat_analysis_queue_depth",
            "Analysis jobs queued or running.",
            registry=self.registry,
        )
        self.oldest_job_age = Gauge(
            "backbeat_analysis_oldest_queued_seconds",
            "Age of the oldest queued analysis job (0 when none).",
            registry=self.registry,
        )
        self.cache_hit_ratio = Gauge(
            "backbeat_cache_hit_ratio",
            "Hits / (hits + misses) of the in-process cache level since start.",
            registry=self.registry,
        )


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics: Metrics = scope["app"].state.metrics
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            metrics.requests.labels(template, method, str(status)).inc()
            metrics.latency.labels(template, method).observe(time.perf_counter() - started)


def _l1_stats(cache: Any) -> Any:
    return getattr(getattr(cache, "l1", cache), "stats", None)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics_endpoint(request: Request, services: ServicesDep) -> Response:
    metrics: Metrics = request.app.state.metrics
    queue = await services.catalogue.jobs.stats()
    metrics.queue_depth.set(queue.depth)
    metrics.oldest_job_age.set(queue.oldest_age_s() or 0.0)
    stats = _l1_stats(services.toolkit.cache)
    if stats is not None and stats.hits + stats.misses:
        metrics.cache_hit_ratio.set(stats.hits / (stats.hits + stats.misses))
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/ready",
    summary="Readiness: every configured backend answers",
    responses={503: {"description": "A backend is down"}},
)
async def ready(services: ServicesDep) -> JSONResponse:
    report = await services.toolkit.health()
    ok = report.status == "ok"
    return JSONResponse({"ready": ok, **report.to_dict()}, status_code=200 if ok else 503)
