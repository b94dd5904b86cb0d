"""The FastAPI application factory.

``create_app(settings)`` wires a :class:`~backbeat.toolkit.Toolkit` into the app's
lifespan (opened at start-up, closed at shutdown) and mounts one router per
concern. Errors of ours become Spotify's error shape,
``{"error": {"status": 404, "message": "...", "code": "not_found"}}``, with the
stable ``code`` added so clients need not parse messages, and the message in
the locale negotiated from ``Accept-Language`` among ``SUPPORTED_LOCALES``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from backbeat._version import __version__
from backbeat.catalogue import AnalysisWorker, Catalogue, CatalogueModel, RedisQueue, Trainer
from backbeat.errors import BackbeatError, NotFound
from backbeat.i18n import Translator
from backbeat.monitoring import ServiceMetrics, create_system_monitor, mark_process_dead
from backbeat.server._admin import retrain_on_schedule
from backbeat.server._admin import router as admin_router
from backbeat.server._analytics import router as analytics_router
from backbeat.server._auth import token_service
from backbeat.server._billing import router as billing_router
from backbeat.server._console import router as console_router
from backbeat.server._context import RequestContextMiddleware
from backbeat.server._credentials import router as credentials_router
from backbeat.server._deps import ResultCache, Services
from backbeat.server._events import router as events_router
from backbeat.server._features import router as features_router
from backbeat.server._health import router as health_router
from backbeat.server._limits import LazyRateLimit
from backbeat.server._metrics import MetricsMiddleware
from backbeat.server._metrics import router as metrics_router
from backbeat.server._monitoring import router as monitoring_router
from backbeat.server._operations import router as operations_router
from backbeat.server._playback import router as playback_router
from backbeat.server._privacy import privacy_maintenance
from backbeat.server._privacy import router as privacy_router
from backbeat.server._recommendations import router as recommendations_router
from backbeat.server._stream import router as stream_router
from backbeat.server._stream import stream_packager
from backbeat.server._tracks import router as tracks_router
from backbeat.server._users import router as users_router
from backbeat.settings import Settings
from backbeat.toolkit import Toolkit
from backbeat.validation import invalid_input

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service; ``settings`` defaults to :meth:`Settings.from_env`."""
    resolved = settings if settings is not None else Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Toolkit(resolved) as toolkit:
            if resolved.database_backend == "sqlite":
                await toolkit.migrate()  # the embedded default sets itself up
            services = _services(toolkit)
            app.state.services = services
            monitor = create_system_monitor(resolved, metrics=app.state.metrics)
            toolkit.use_monitor(monitor)
            if resolved.monitoring_enabled:
                await monitor.start_advanced_monitoring()
            worker_task = None
            if resolved.embedded_worker:
                catalogue = services.catalogue
                services.worker = AnalysisWorker(
                    catalogue.jobs,
                    catalogue.tracks,
                    catalogue.media,
                    wake=services.jobs_waiting,
                    on_result=services.results.invalidate,
                    on_outcome=app.state.metrics.observe_analysis,
                    on_realtime=app.state.metrics.observe_realtime,
                    training=Trainer(catalogue.training, catalogue.events, services.registry),
                    packager=stream_packager(resolved),
                )
                worker_task = asyncio.create_task(
                    services.worker.run(), name="backbeat-analysis-worker"
                )
            privacy = asyncio.create_task(
                privacy_maintenance(services, app.state.metrics), name="backbeat-privacy"
            )
            schedule = None
            if resolved.retrain_interval_h > 0:
                schedule = asyncio.create_task(
                    retrain_on_schedule(services), name="backbeat-retrain-schedule"
                )
            try:
                yield
            finally:
                privacy.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await privacy
                if schedule is not None:
                    schedule.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await schedule
                if services.queue is not None:
                    await services.queue.aclose()
                if worker_task is not None:
                    worker_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker_task
                services.catalogue.api_keys.close()
                mark_process_dead()
                provider = getattr(app.state, "tracer_provider", None)
                if provider is not None:
                    await asyncio.to_thread(provider.shutdown)  # flushes the last spans

    app = FastAPI(
        title="backbeat",
        version=__version__,
        summary="Self-hosted audio features, analysis and recommendations for your catalogue.",
        lifespan=lifespan,
    )
    app.state.settings = resolved
    if resolved.jwt_secret is not None:
        app.state.tokens = token_service(resolved.jwt_secret.get_secret_value())
    app.add_exception_handler(BackbeatError, _backbeat_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _request_invalid)  # type: ignore[arg-type]
    app.include_router(health_router)
    app.include_router(stream_router)
    app.include_router(tracks_router)
    app.include_router(features_router)
    app.include_router(recommendations_router)
    app.include_router(events_router)
    app.include_router(billing_router)
    app.include_router(privacy_router)
    app.include_router(playback_router)
    app.include_router(users_router)
    app.include_router(admin_router)
    app.include_router(credentials_router)
    app.include_router(metrics_router)
    app.include_router(monitoring_router)
    app.include_router(analytics_router)
    app.include_router(operations_router)
    app.include_router(console_router)
    app.state.metrics = ServiceMetrics()
    app.add_middleware(LazyRateLimit)
    app.add_middleware(MetricsMiddleware)
    origins = [o.strip() for o in resolved.cors_origins.split(",") if o.strip()]
    if origins:
        # Bearer keys, no cookies: credentials stay off, so no CSRF surface either.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["Retry-After", "X-Request-ID", "RateLimit-Remaining"],
        )
    app.add_middleware(RequestContextMiddleware)  # outermost: every response gets its id
    if resolved.otlp_endpoint:
        from backbeat.monitoring import TracingMiddleware, tracer_provider

        provider = tracer_provider(resolved.otlp_endpoint, service_version=__version__)
        app.state.tracer_provider = provider
        app.add_middleware(TracingMiddleware, tracer=provider.get_tracer("backbeat.server"))
    return app


def _services(toolkit: Toolkit) -> Services:
    """What the routes share: the catalogue on the toolkit's engine, caches, the queue."""
    settings = toolkit.settings
    catalogue = Catalogue.from_settings(settings, toolkit.database_engine())
    registry = toolkit.model_registry()
    return Services(
        settings=settings,
        toolkit=toolkit,
        catalogue=catalogue,
        results=ResultCache(toolkit.cache),
        # Rebuilt when the database's catalogue fingerprint changes (any process's writes).
        model=CatalogueModel(catalogue.tracks, registry=registry),
        registry=registry,
        queue=RedisQueue(settings.redis_url, settings.queue_name) if settings.redis_url else None,
    )


async def _request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's own 422 body is not Spotify's shape: report the first bad field as a 400.
    errors = exc.errors()
    return await _backbeat_error(request, invalid_input(errors[0] if errors else {}))


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    # Unknown routes and methods get the same error shape as everything else.
    if exc.status_code == 404:
        return await _backbeat_error(request, NotFound())
    body = {"error": {"status": exc.status_code, "message": str(exc.detail), "code": "http"}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _backbeat_error(request: Request, exc: BackbeatError) -> JSONResponse:
    settings: Settings = request.app.state.settings
    translator = Translator.negotiate(
        request.headers.get("accept-language"),
        supported=settings.supported_locales,
        default=settings.default_locale,
    )
    status = exc.http_status
    body = {"error": {"status": status, "message": translator.render(exc), "code": exc.code}}
    headers = {"Content-Language": translator.locale.replace("_", "-")}
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after > 0:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    return JSONResponse(body, status_code=status, headers=headers)
