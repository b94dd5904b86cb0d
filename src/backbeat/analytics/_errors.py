"""Analytics errors: each names the file, the column and the row."""

from __future__ import annotations

from backbeat.errors import ValidationError

__all__ = ["AnalyticsInputError", "input_error"]


class AnalyticsInputError(ValidationError):
    """Input data or a requested period cannot give a correct figure."""

    default_code = "analytics.input_invalid"
    default_message = "Cannot use {source} (column {column}, row {row}): {problem}."


def input_error(source: str, column: str, row: int | str, problem: str) -> AnalyticsInputError:
    return AnalyticsInputError(
        details={"source": source, "column": column, "row": row, "problem": problem}
    )
