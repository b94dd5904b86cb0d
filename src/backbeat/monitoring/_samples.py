"""What the embedded evaluator keeps between ticks and reads from one metrics snapshot:
cumulative ``(t, total, bad)`` samples per SLO, an SLO's counts, histogram quantiles."""

from __future__ import annotations

import math
from collections import deque

from backbeat.monitoring._metrics import Snapshot
from backbeat.monitoring._slo import Slo

__all__ = ["SloSamples", "histogram_quantile", "slo_counts"]


class SloSamples:
    """``(t, total, bad)`` cumulative samples of one SLO, long enough for its windows."""

    def __init__(self, horizon_s: float) -> None:
        self.horizon_s = horizon_s
        self.points: deque[tuple[float, float, float]] = deque()

    def add(self, t: float, total: float, bad: float) -> None:
        if self.points and total < self.points[-1][1]:  # a counter reset: start again
            self.points.clear()
        self.points.append((t, total, bad))
        while len(self.points) > 2 and self.points[1][0] <= t - self.horizon_s:
            self.points.popleft()

    def ratio(self, window_s: float) -> float | None:
        """Bad share over the last ``window_s`` (or since the first sample); None if idle."""
        if len(self.points) < 2:
            return None
        t, total, bad = self.points[-1]
        start = self.points[0]
        for p in reversed(self.points):
            if p[0] <= t - window_s:
                start = p
                break
        requests = total - start[1]
        if requests <= 0:
            return None
        return max(0.0, (bad - start[2]) / requests)


def slo_counts(slo: Slo, snap: Snapshot) -> tuple[float, float]:
    """``(total, bad)`` cumulative counts of ``slo``'s requests across processes."""
    if slo.kind == "availability":
        total = bad = 0.0
        for labels, value in snap.get("backbeat_http_requests_total", []):
            if slo.route_matches(labels.get("route", "")):
                total += value
                if labels.get("status", "").startswith("5"):
                    bad += value
        return total, bad
    total = good = 0.0
    for labels, value in snap.get("backbeat_http_request_duration_seconds_count", []):
        if slo.route_matches(labels.get("route", "")):
            total += value
    assert slo.threshold_s is not None
    for labels, value in snap.get("backbeat_http_request_duration_seconds_bucket", []):
        at_threshold = abs(float(labels.get("le", "nan")) - slo.threshold_s) < 1e-9
        if at_threshold and slo.route_matches(labels.get("route", "")):
            good += value
    return total, max(0.0, total - good)


def histogram_quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Prometheus's histogram_quantile over cumulative ``(le, count)`` deltas."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return prev_le
            width = count - prev_count
            return prev_le + (le - prev_le) * ((rank - prev_count) / width if width else 1.0)
        prev_le, prev_count = le, count
    return prev_le
