"""Analytics errors: each names the file, the column and the row."""

from __future__ import annotations

from backbeat.errors import Unavailable, ValidationError

__all__ = ["AnalyticsInputError", "AnalyticsNotConfigured", "input_error"]


class AnalyticsNotConfigured(Unavailable):
    """The service has no analytics source (the setting is named)."""

    default_code = "analytics.not_configured"
    default_message = "Business analytics is not configured: set {setting}."
    retryable = False


class AnalyticsInputError(ValidationError):
    """Input data or a requested period cannot give a correct figure."""

    default_code = "analytics.input_invalid"
    default_message = "Cannot use {source} (column {column}, row {row}): {problem}."


def input_error(source: str, column: str, row: int | str, problem: str) -> AnalyticsInputError:
    return AnalyticsInputError(
        details={"source": source, "column": column, "row": row, "problem": problem}
    )
