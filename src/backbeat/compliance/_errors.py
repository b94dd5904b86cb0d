"""Compliance errors: stable codes, English messages naming what is wrong."""

from __future__ import annotations

from typing import Any

from backbeat.errors import ValidationError

__all__ = ["AnonymizationError", "anonymization_error"]


class AnonymizationError(ValidationError):
    """A table cannot be anonymised as asked (the column, k, l or t is named)."""

    default_code = "compliance.anonymization"
    default_message = "The table cannot be anonymised as asked."


def anonymization_error(code: str, message: str, **details: Any) -> AnonymizationError:
    return AnonymizationError(code, details=details, message=message)
