"""Optional OpenTelemetry traces: one server span per HTTP request, exported over OTLP/HTTP.

On when ``BACKBEAT_OTLP_ENDPOINT`` (or the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``) names
a collector, such as ``http://127.0.0.1:4318``; spans go to ``<endpoint>/v1/traces`` in
batches from a background thread. A span is named ``METHOD route-template`` (never the
raw path, which may hold ids) and continues the caller's trace from a W3C
``traceparent`` header. Needs the ``otel`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backbeat.errors import ConfigurationError

if TYPE_CHECKING:  # the middleware runs inside the service, which has starlette
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["TracingMiddleware", "tracer_provider"]


def tracer_provider(endpoint: str, *, service_version: str = "") -> Any:
    """A TracerProvider exporting to ``endpoint`` (OTLP over HTTP, protobuf)."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as e:
        raise ConfigurationError(
            "config.missing_extra",
            details={"extra": "otel", "package": e.name or "opentelemetry-sdk"},
            message="This feature needs {package}: pip install 'backbeat[{extra}]'.",
        ) from e
    resource = Resource.create({"service.name": "backbeat", "service.version": service_version})
    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


class TracingMiddleware:
    """A SERVER span around each HTTP request (``tracer``: from a TracerProvider)."""

    def __init__(self, app: ASGIApp, tracer: Any) -> None:
        from opentelemetry.propagate import extract
        from opentelemetry.trace import SpanKind, Status, StatusCode

        self.app = app
        self.tracer = tracer
        self._extract, self._server = extract, SpanKind.SERVER
        self._error = Status(StatusCode.ERROR)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        method = scope.get("method", "")
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with self.tracer.start_as_current_span(
            f"{method} unmatched", context=self._extract(carrier), kind=self._server
        ) as span:
            try:
                await self.app(scope, receive, observe)
            finally:
                template = getattr(scope.get("route"), "path", None) or "unmatched"
                span.update_name(f"{method} {template}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", template)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(self._error)
