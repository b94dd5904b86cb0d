from __future__ import annotations

import json
import logging

from backbeat.audit import audit_context
from backbeat.cli._logging import JsonFormatter, logging_config


def test_json_lines_carry_the_request_id() -> None:
    record = logging.LogRecord(
        "backbeat.worker", logging.WARNING, __file__, 1, "job %s", ("t1",), None
    )
    with audit_context(request_id="req-9"):
        line = JsonFormatter().format(record)
    body = json.loads(line)
    assert body["message"] == "job t1"
    assert body["level"] == "WARNING"
    assert body["logger"] == "backbeat.worker"
    assert body["request_id"] == "req-9"
    assert "request_id" not in json.loads(JsonFormatter().format(record))


def test_config_routes_uvicorn_through_one_handler() -> None:
    config = logging_config("INFO", "json")
    assert config["formatters"]["default"] == {"()": "backbeat.cli._logging.JsonFormatter"}
    assert config["loggers"]["uvicorn.access"]["propagate"] is True
    assert "format" in logging_config("INFO", "text")["formatters"]["default"]
