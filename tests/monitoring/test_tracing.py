"""OpenTelemetry traces of the service, received by a real OTLP/HTTP endpoint on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backbeat.errors import ConfigurationError
from backbeat.server import create_app
from backbeat.settings import Settings
from tests.monitoring.conftest import Receiver

trace_pb2 = pytest.importorskip(
    "opentelemetry.proto.collector.trace.v1.trace_service_pb2", reason="the otel extra"
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_each_request_is_a_span_named_by_its_route(tmp_path: Path, receiver: Receiver) -> None:
    settings = Settings.from_env(
        {"BACKBEAT_DATA_DIR": str(tmp_path), "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
    )
    with TestClient(create_app(settings)) as client:
        parent = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
        assert client.get("/health", headers=parent).status_code in (200, 503)
        assert client.get("/v1/audio-features/7ouMYWpwJ422jRcDASZB7P").status_code == 401
    spans = []
    for body in receiver.bodies("/v1/traces"):
        request = trace_pb2.ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            names = {a.key: a.value.string_value for a in resource.resource.attributes}
            assert names["service.name"] == "backbeat"
            for scope in resource.scope_spans:
                spans.extend(scope.spans)
    by_name = {s.name: s for s in spans}
    assert "GET /health" in by_name
    assert by_name["GET /health"].trace_id.hex() == TRACE_ID  # the caller's trace continues
    features = by_name["GET /v1/audio-features/{track_id:path}"]  # the template, not the id
    attributes = {a.key: a.value for a in features.attributes}
    assert attributes["http.response.status_code"].int_value == 401
    assert not any("7ouMYWpwJ422jRcDASZB7P" in s.name for s in spans)


def test_a_bad_endpoint_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path), "BACKBEAT_OTLP_ENDPOINT": "grpc:x"})
    assert "OTLP_ENDPOINT" in raised.value.message
