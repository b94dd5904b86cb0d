"""Logging set-up for backbeat's own programs (the CLI and the service).

The library itself only calls ``logging.getLogger(__name__)``: an application
that embeds backbeat keeps control of its handlers. Only ``backbeat serve`` and
the other commands call :func:`configure_logging`. ``BACKBEAT_LOG_FORMAT=json``
(the default of ``backbeat serve``) writes one JSON object per line with the
time, level, logger, message and, inside a request, its ``request_id``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
import re
import sys
from typing import Any

__all__ = [
    "JsonFormatter",
    "RedactUserPaths",
    "StderrHandler",
    "configure_logging",
    "logging_config",
]

#: Path segments that are end users' IDs: access logs show a placeholder instead, so a
#: user's erasure leaves no copy of their ID in the service's logs.
_USER_PATHS = re.compile(r"(/v1/(?:users|privacy/consents)/)[^/?\s\"]+")


#: Cheap, pattern-only kinds of personal data kept out of log lines (client IPs stay: they
#: are what an operator investigates abuse with).
_LOG_PII = ("email", "iban", "card", "spotify_user")
_MAYBE_PII = re.compile(r"@|\d{4}|spotify")


class RedactUserPaths(logging.Filter):
    """Replaces user IDs in request paths (uvicorn's access log) with ``{user}``, and
    e-mail addresses, IBANs, card numbers and Spotify user URIs in any message with
    ``[EMAIL]``, ``[IBAN]``, ``[CARD]``, ``[SPOTIFY_USER]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _USER_PATHS.sub(r"\1{user}", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _USER_PATHS.sub(r"\1{user}", record.msg)
        message = record.getMessage()
        if _MAYBE_PII.search(message):
            from backbeat.compliance import redact

            cleaned = redact(message, kinds=_LOG_PII)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted.

    A plain ``StreamHandler`` keeps the stream it was built with; when a host (a test
    runner, an embedding app) swaps ``sys.stderr`` and closes the old one, every later
    record would fail with "I/O operation on closed file"."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # always the current sys.stderr


class JsonFormatter(logging.Formatter):
    """One JSON object per record; the audit context's request id when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        from backbeat.audit import current_context

        body = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_context().request_id
        if request_id:
            body["request_id"] = request_id
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False)


def logging_config(level: str, fmt: str = "text") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` document: one stderr handler for everything
    (uvicorn's loggers included), ``text`` or ``json`` lines. uvicorn applies it in each
    of its worker processes."""
    formatter: dict[str, Any] = (
        {"()": "backbeat.cli._logging.JsonFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "filters": {"users": {"()": "backbeat.cli._logging.RedactUserPaths"}},
        "handlers": {
            "stderr": {
                "()": "backbeat.cli._logging.StderrHandler",
                "formatter": "default",
                "filters": ["users"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            name: {"level": level, "handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure_logging(level: str, fmt: str = "text") -> None:
    """Apply :func:`logging_config` in this process."""
    logging.config.dictConfig(logging_config(level, fmt))
