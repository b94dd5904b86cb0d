"""Service-level objectives, their error budgets and multi-window burn-rate alerts.

An SLO is a target share of good requests over a window (28 or 30 days) for a group of
routes: *availability* (a request is bad when it answers 5xx) or *latency* (bad when it
takes longer than a threshold, which must be one of the latency histogram's bucket
boundaries so that Prometheus and the embedded evaluator count exactly). Burn rate =
observed bad share / allowed bad share (1 - objective); a burn rate of 1 spends the
budget exactly over the window.

Alerts follow the Google SRE Workbook ("Alerting on SLOs", multiwindow, multi-burn-rate):
each alert fires when the burn rate exceeds its factor over both a long and a short
window (the short one makes it resolve quickly once the burn stops). Defaults: page at
14.4x over 1 h and 5 min (2% of a 30-day budget in an hour) or 6x over 6 h and 30 min (5%
in six hours); ticket at 3x over 1 d and 2 h or 1x over 3 d and 6 h. Windows and factors
can be declared per configuration (tests compress them to seconds).

Definitions come from a YAML or JSON file (``BACKBEAT_MONITORING_FILE``) or the defaults
below; every error names the file, the entry and the field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backbeat.monitoring._errors import MonitoringConfigError, config_error
from backbeat.monitoring._metrics import LATENCY_BUCKETS

__all__ = [
    "DEFAULT_BURN_ALERTS",
    "DEFAULT_SLOS",
    "BurnAlert",
    "Slo",
    "format_duration",
    "load_config",
    "parse_duration",
    "parse_slos",
]


def _fail(source: str, where: str, problem: str) -> MonitoringConfigError:
    return config_error(source, where, problem)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(\d+)([smhdw])$")


def parse_duration(value: Any, *, source: str = "<config>", where: str = "duration") -> float:
    """``"5m"`` -> 300.0 (Prometheus's units s, m, h, d, w; one unit per value)."""
    match = _DURATION.match(str(value).strip()) if isinstance(value, str) else None
    if match is None or int(match.group(1)) <= 0:
        raise _fail(source, where, f"{value!r} is not a duration such as 30s, 5m, 1h, 3d")
    return float(int(match.group(1)) * _UNITS[match.group(2)])


def format_duration(seconds: float) -> str:
    """The largest whole Prometheus unit: 3600 -> ``"1h"``, 90 -> ``"90s"``."""
    for unit, size in sorted(_UNITS.items(), key=lambda kv: -kv[1]):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


@dataclass(frozen=True, slots=True)
class BurnAlert:
    """Fire when the burn rate exceeds ``factor`` over both ``long_s`` and ``short_s``."""

    severity: str  # "page" or "ticket"
    factor: float
    long_s: float
    short_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "factor": self.factor,
            "long": format_duration(self.long_s),
            "short": format_duration(self.short_s),
        }


#: The SRE Workbook's recommended set for a 30-day objective.
DEFAULT_BURN_ALERTS: tuple[BurnAlert, ...] = (
    BurnAlert("page", 14.4, 3600, 300),
    BurnAlert("page", 6.0, 6 * 3600, 1800),
    BurnAlert("ticket", 3.0, 86400, 7200),
    BurnAlert("ticket", 1.0, 3 * 86400, 6 * 3600),
)

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


@dataclass(frozen=True, slots=True)
class Slo:
    """One objective over a group of routes (``routes``: a regex on route templates)."""

    name: str
    kind: str  # "availability" | "latency"
    objective: float
    routes: str = "/v1/.*"
    threshold_s: float | None = None
    window_days: int = 30
    description: str = ""
    alerts: tuple[BurnAlert, ...] = field(default=DEFAULT_BURN_ALERTS)

    @property
    def budget(self) -> float:
        """The allowed bad share, ``1 - objective``."""
        return 1.0 - self.objective

    def route_matches(self, route: str) -> bool:
        return re.fullmatch(self.routes, route) is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "objective": self.objective,
            "routes": self.routes,
            "window_days": self.window_days,
            "description": self.description,
            "alerts": [a.to_dict() for a in self.alerts],
        }
        if self.threshold_s is not None:
            out["threshold_ms"] = round(self.threshold_s * 1000, 3)
        return out


#: The embedded defaults: every API answer, and the reads the seed promised at p95 < 50 ms.
DEFAULT_SLOS: tuple[Slo, ...] = (
    Slo(
        "api-availability",
        "availability",
        0.999,
        routes="/v1/.*",
        description="99.9% of /v1 requests answer without a server error (30 days).",
    ),
    Slo(
        "reads-latency",
        "latency",
        0.95,
        routes="/v1/audio-features.*|/v1/audio-analysis.*|/v1/recommendations",
        threshold_s=0.05,
        description="95% of audio-feature, analysis and recommendation reads under 50 ms.",
    ),
)


def _number(raw: Any, source: str, where: str, lo: float, hi: float) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise _fail(source, where, f"{raw!r} is not a number")
    if not lo < float(raw) < hi:
        raise _fail(source, where, f"{raw!r} is outside ({lo}, {hi})")
    return float(raw)


def _burn_alerts(raw: Any, source: str, where: str) -> tuple[BurnAlert, ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail(source, where, "expected a non-empty list of {severity, factor, long, short}")
    out = []
    for i, entry in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise _fail(source, at, "expected a mapping")
        unknown = set(entry) - {"severity", "factor", "long", "short"}
        if unknown:
            raise _fail(source, at, f"unknown field(s) {', '.join(sorted(unknown))}")
        severity = entry.get("severity")
        if severity not in ("page", "ticket"):
            raise _fail(source, f"{at}.severity", f"{severity!r} is not page or ticket")
        long_s = parse_duration(entry.get("long"), source=source, where=f"{at}.long")
        short_s = parse_duration(entry.get("short"), source=source, where=f"{at}.short")
        if short_s >= long_s:
            raise _fail(source, f"{at}.short", "the short window must be shorter than the long")
        factor = _number(entry.get("factor"), source, f"{at}.factor", 0.0, 10_000.0)
        out.append(BurnAlert(severity, factor, long_s, short_s))
    return tuple(out)


def _slo(raw: Any, source: str, where: str, alerts: tuple[BurnAlert, ...]) -> Slo:
    if not isinstance(raw, dict):
        raise _fail(source, where, "expected a mapping")
    known = {"name", "kind", "objective", "routes", "threshold_ms", "window_days"}
    unknown = set(raw) - known - {"description", "alerts"}
    if unknown:
        raise _fail(source, where, f"unknown field(s) {', '.join(sorted(unknown))}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(source, f"{where}.name", f"{name!r} is not a name like api-availability")
    kind = raw.get("kind")
    if kind not in ("availability", "latency"):
        raise _fail(source, f"{where}.kind", f"{kind!r} is not availability or latency")
    objective = _number(raw.get("objective"), source, f"{where}.objective", 0.0, 1.0)
    routes = raw.get("routes", "/v1/.*")
    try:
        re.compile(routes)
    except (re.error, TypeError) as exc:
        raise _fail(source, f"{where}.routes", f"not a regular expression ({exc})") from None
    threshold_s = None
    if kind == "latency":
        if "threshold_ms" not in raw:
            raise _fail(source, f"{where}.threshold_ms", "a latency SLO needs a threshold")
        ms = _number(raw["threshold_ms"], source, f"{where}.threshold_ms", 0.0, 1e6)
        threshold_s = ms / 1000.0
        if not any(abs(threshold_s - b) < 1e-9 for b in LATENCY_BUCKETS):
            allowed = ", ".join(f"{b * 1000:g}" for b in LATENCY_BUCKETS)
            raise _fail(
                source,
                f"{where}.threshold_ms",
                f"{ms:g} ms is not a histogram bucket boundary (one of {allowed})",
            )
    elif "threshold_ms" in raw:
        raise _fail(source, f"{where}.threshold_ms", "only latency SLOs take a threshold")
    window = raw.get("window_days", 30)
    if window not in (7, 14, 28, 30) or isinstance(window, bool):
        raise _fail(source, f"{where}.window_days", f"{window!r} is not 7, 14, 28 or 30")
    own = alerts
    if "alerts" in raw:
        own = _burn_alerts(raw["alerts"], source, f"{where}.alerts")
    return Slo(
        name,
        kind,
        objective,
        routes=routes,
        threshold_s=threshold_s,
        window_days=int(window),
        description=str(raw.get("description", "")),
        alerts=own,
    )


def parse_slos(raw: Any, *, source: str = "<config>") -> tuple[Slo, ...]:
    """SLOs from the ``slos`` (and optional ``burn_alerts``) keys of a loaded mapping."""
    if raw is None:
        return DEFAULT_SLOS
    if not isinstance(raw, dict):
        raise _fail(source, "top level", "expected a mapping with an `slos` list")
    alerts = DEFAULT_BURN_ALERTS
    if "burn_alerts" in raw:
        alerts = _burn_alerts(raw["burn_alerts"], source, "burn_alerts")
    if "slos" not in raw:
        return tuple(
            Slo(**{**_fields(s), "alerts": alerts})  # the defaults under declared windows
            for s in DEFAULT_SLOS
        )
    entries = raw["slos"]
    if not isinstance(entries, list) or not entries:
        raise _fail(source, "slos", "expected a non-empty list")
    slos = tuple(_slo(e, source, f"slos[{i}]", alerts) for i, e in enumerate(entries))
    names = [s.name for s in slos]
    for name in names:
        if names.count(name) > 1:
            raise _fail(source, "slos", f"the name {name!r} is used twice")
    return slos


def _fields(slo: Slo) -> dict[str, Any]:
    return {
        "name": slo.name,
        "kind": slo.kind,
        "objective": slo.objective,
        "routes": slo.routes,
        "threshold_s": slo.threshold_s,
        "window_days": slo.window_days,
        "description": slo.description,
    }


def load_config(path: Path) -> dict[str, Any]:
    """A YAML or JSON monitoring file as a mapping; errors name the file and line."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(source, "file", f"cannot be read ({exc.strerror})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _fail(source, f"line {exc.lineno}", exc.msg) from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark is not None else "file"
            raise _fail(source, where, str(getattr(exc, "problem", exc))) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _fail(source, "top level", "expected a mapping")
    return data
