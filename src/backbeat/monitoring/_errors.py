"""The monitoring package's errors: each names the file, entry or line at fault."""

from __future__ import annotations

from backbeat.errors import ValidationError

__all__ = ["MonitoringConfigError", "SeriesError"]


class MonitoringConfigError(ValidationError):
    """An SLO, alert, receiver or escalation definition is malformed."""

    default_code = "monitoring.config_invalid"
    default_message = "Invalid monitoring configuration in {source} at {where}: {problem}."


class SeriesError(ValidationError):
    """A metric series (CSV) cannot be read: the file, line and column are named."""

    default_code = "monitoring.series_invalid"
    default_message = "Cannot read the series {source} at line {line}: {problem}."


def config_error(source: str, where: str, problem: str) -> MonitoringConfigError:
    return MonitoringConfigError(details={"source": source, "where": where, "problem": problem})


def series_error(source: str, line: int, problem: str) -> SeriesError:
    return SeriesError(details={"source": source, "line": line, "problem": problem})
