"""Streaming errors: stable codes, messages naming the file, field or value."""

from __future__ import annotations

from typing import Any

from backbeat.errors import ValidationError

__all__ = ["StreamingError", "streaming_error"]


class StreamingError(ValidationError):
    default_code = "streaming.invalid"
    default_message = "The streaming input is invalid."


def streaming_error(code: str, message: str, **details: Any) -> StreamingError:
    return StreamingError(code, details=details, message=message)
