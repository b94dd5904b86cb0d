"""``GET /metrics`` (Prometheus text format) and ``GET /ready``.

The series are :class:`backbeat.monitoring.ServiceMetrics` (one registry per app, so
several apps in one process do not collide; under ``serve --workers N`` every process
writes to the shared multiprocess directory and any process's scrape reports all of
them). At scrape time: the job queue's depth and oldest age, the cache levels'
counters and the database pool. ``/ready`` answers 200 only when every configured
backend does (database, Redis), 503 otherwise; ``/health`` is the liveness report.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backbeat.monitoring import CONTENT_TYPE_LATEST, ServiceMetrics
from backbeat.server._deps import ServicesDep

__all__ = ["MetricsMiddleware", "cache_levels", "pool_state", "router"]

router = APIRouter(tags=["operations"])


class MetricsMiddleware:
    """RED per route template: one counter increment and one histogram observation."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics: ServiceMetrics = scope["app"].state.metrics
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


def cache_levels(cache: Any) -> dict[str, Any]:
    """``{"l1": stats, "l2": stats}`` of a tiered cache, ``{"l1": stats}`` of one level."""
    levels: dict[str, Any] = {}
    for level in ("l1", "l2"):
        stats = getattr(getattr(cache, level, None), "stats", None)
        if stats is not None:
            levels[level] = stats
    if not levels and getattr(cache, "stats", None) is not None:
        levels["l1"] = cache.stats
    return levels


def pool_state(engine: Any) -> tuple[int, int] | None:
    """``(checked out, idle)`` of an SQLAlchemy engine's pool, when it keeps one."""
    pool = getattr(getattr(engine, "sync_engine", engine), "pool", None)
    checkedout = getattr(pool, "checkedout", None)
    checkedin = getattr(pool, "checkedin", None)
    if not callable(checkedout) or not callable(checkedin):
        return None
    return int(checkedout()), int(checkedin())


def refresh(metrics: ServiceMetrics, services: Any) -> None:
    """The per-process readings a scrape or the evaluator's tick exports."""
    metrics.sync_cache(cache_levels(services.toolkit.cache))
    state = pool_state(services.catalogue.engine)
    if state is not None:
        metrics.set_pool(*state)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics_endpoint(request: Request, services: ServicesDep) -> Response:
    metrics: ServiceMetrics = request.app.state.metrics
    queue = await services.catalogue.jobs.stats()
    metrics.queue_depth.set(queue.depth)
    metrics.oldest_job_age.set(queue.oldest_age_s() or 0.0)
    refresh(metrics, services)
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/ready",
    summary="Readiness: every configured backend answers",
    responses={503: {"description": "A backend is down"}},
)
async def ready(services: ServicesDep) -> JSONResponse:
    report = await services.toolkit.health()
    ok = report.status == "ok"
    return JSONResponse({"ready": ok, **report.to_dict()}, status_code=200 if ok else 503)
