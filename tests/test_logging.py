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


def test_the_handler_follows_a_swapped_stderr(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import io
    import logging.config

    first, second = io.StringIO(), io.StringIO()
    saved = logging.root.handlers[:], logging.root.level
    monkeypatch.setattr("sys.stderr", first)
    logging.config.dictConfig(logging_config("INFO", "text"))
    try:
        first.close()  # a test runner or host closed the stream the handler was built with
        monkeypatch.setattr("sys.stderr", second)
        logging.getLogger("backbeat.test").info("still heard")
    finally:
        logging.root.handlers[:], level = saved
        logging.root.setLevel(level)
    assert "still heard" in second.getvalue()
