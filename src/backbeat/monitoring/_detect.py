"""Streaming anomaly detectors for metric series.

Every detector takes one point at a time (``update(value, timestamp) -> score`` in
[0, 1]) and keeps bounded state, so it runs beside the service as samples arrive;
``score_series`` runs one over a whole series.

- :class:`RobustZ`: |x - median| / (1.4826 MAD) over a trailing window, for the value
  and for its first difference (spikes, level shifts, sudden slopes); robust to the
  outliers it is looking for, unlike a mean and a standard deviation.
- :class:`Ewma`: exponentially weighted mean and variance (fast, no window).
- :class:`SeasonalBaseline`: the median of the same phase in the previous ``cycles``
  periods (a daily cycle by default, from the sampling interval), so a quiet night is
  not an anomaly but a dip at the busy hour is (contextual anomalies).
- :class:`Cusum`: a two-sided CUSUM on standardised residuals (drifts and small level
  shifts that no single point reveals).
- :class:`AnomalyDetector`: the default, combines the raw surprises above and turns
  them into an *anomaly likelihood* (how unusual the recent average surprise is against
  the surprise's own long history; the post-processing that Numenta's HTM detector uses
  on NAB), then holds back repeats for a refractory period after an alarm.

Scores are comparable within one detector; ``DEFAULT_THRESHOLD`` is the threshold the
NAB corpus chose for :class:`AnomalyDetector` (``benchmarks/bench_monitoring.py``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DEFAULT_THRESHOLD",
    "AnomalyDetector",
    "Cusum",
    "Ensemble",
    "Ewma",
    "Refractory",
    "RelativeEntropy",
    "RobustZ",
    "SeasonalBaseline",
    "SurpriseLikelihood",
    "ThreeSigma",
    "score_series",
]

MAD_SCALE = 1.4826  # MAD -> standard deviation for Gaussian data
DEFAULT_THRESHOLD = 0.37  # the standard profile's best on NAB (0.3666)


class _Ring:
    """The last ``size`` floats, as a numpy view in arrival order when full."""

    def __init__(self, size: int) -> None:
        self.data = np.zeros(size)
        self.size = size
        self.n = 0

    def push(self, value: float) -> None:
        self.data[self.n % self.size] = value
        self.n += 1

    def view(self) -> NDArray[np.float64]:
        return self.data if self.n >= self.size else self.data[: self.n]

    def __len__(self) -> int:
        return min(self.n, self.size)


class _RobustStats:
    """Median and MAD of a ring, re-estimated every ``every`` points (they move slowly)."""

    def __init__(self, size: int, every: int = 8) -> None:
        self.ring = _Ring(size)
        self.every = every
        self.med = 0.0
        self.mad = 0.0
        self._age = every

    def push(self, value: float) -> None:
        self.ring.push(value)
        self._age += 1

    def z(self, value: float, floor: float) -> float:
        if self._age >= self.every:
            view = self.ring.view()
            self.med = float(np.median(view))
            self.mad = float(np.median(np.abs(view - self.med))) * MAD_SCALE
            self._age = 0
        return abs(value - self.med) / max(self.mad, floor)

    def __len__(self) -> int:
        return len(self.ring)


class RobustZ:
    """Median/MAD z-score of the value and of its change over a trailing window."""

    def __init__(self, window: int = 400, warmup: int = 30, changes: bool = True) -> None:
        self.changes = changes
        self.values = _RobustStats(window)
        self.diffs = _RobustStats(window)
        self.warmup = warmup
        self.last: float | None = None
        self.scale = 0.0

    def raw(self, value: float) -> float:
        """The surprise (a z-score) of ``value``; then ``value`` joins the window."""
        z = 0.0
        diff = value - self.last if self.last is not None else 0.0
        self.scale = max(self.scale * 0.999, abs(value))
        floor = 1e-3 * self.scale + 1e-12
        if len(self.values) >= self.warmup:
            z = self.values.z(value, floor)
            if self.changes:
                z = max(z, self.diffs.z(diff, floor))
        self.values.push(value)
        if self.last is not None:
            self.diffs.push(diff)
        self.last = value
        return z

    def update(self, value: float, timestamp: float | None = None) -> float:
        return _squash(self.raw(value))


class Ewma:
    """Exponentially weighted mean/variance z-score (``alpha``: weight of the newest)."""

    def __init__(self, alpha: float = 0.02, warmup: int = 30) -> None:
        self.alpha, self.warmup = alpha, warmup
        self.mean = 0.0
        self.var = 0.0
        self.n = 0

    def raw(self, value: float) -> float:
        z = 0.0
        if self.n >= self.warmup and self.var > 0:
            z = abs(value - self.mean) / math.sqrt(self.var)
        if self.n == 0:
            self.mean = value
        delta = value - self.mean
        self.mean += self.alpha * delta
        self.var = (1 - self.alpha) * (self.var + self.alpha * delta * delta)
        self.n += 1
        return z

    def update(self, value: float, timestamp: float | None = None) -> float:
        return _squash(self.raw(value))


class ThreeSigma:
    """The classic baseline: |x - mean| > 3 sigma over a trailing window (score 0 or 1)."""

    def __init__(self, window: int = 400, warmup: int = 30) -> None:
        self.values = _Ring(window)
        self.warmup = warmup

    def update(self, value: float, timestamp: float | None = None) -> float:
        out = 0.0
        if len(self.values) >= self.warmup:
            view = self.values.view()
            sd = float(view.std())
            if sd > 0 and abs(value - float(view.mean())) > 3 * sd:
                out = 1.0
        self.values.push(value)
        return out


class SeasonalBaseline:
    """Surprise against the same phase of the previous ``cycles`` periods.

    ``period`` is in points; with ``None`` it is one day of the sampling interval seen
    in the timestamps (seconds), when the series has at least two such days."""

    def __init__(self, period: int | None = None, cycles: int = 3) -> None:
        self.period = period
        self.cycles = cycles
        self.history: deque[float] = deque()
        self.residuals = _RobustStats(400)
        self.first_ts: float | None = None
        self.step: float | None = None

    def _period(self, timestamp: float | None) -> int | None:
        if self.period is not None:
            return self.period
        if timestamp is None:
            return None
        if self.first_ts is None:
            self.first_ts = timestamp
            return None
        if self.step is None and timestamp > self.first_ts:
            self.step = timestamp - self.first_ts
        if self.step is None or self.step <= 0 or self.step > 3600:
            return None
        self.period = max(2, round(86400 / self.step))
        return self.period

    def raw(self, value: float, timestamp: float | None = None) -> float:
        period = self._period(timestamp)
        z = 0.0
        if period is not None:
            size = period * self.cycles
            if len(self.history) >= size:
                phase = [self.history[-period * c] for c in range(1, self.cycles + 1)]
                expected = float(np.median(phase))
                residual = value - expected
                if len(self.residuals) >= 30:
                    z = self.residuals.z(residual, 1e-3 * abs(expected) + 1e-12)
                self.residuals.push(residual)
            self.history.append(value)
            while len(self.history) > size:
                self.history.popleft()
        return z

    def update(self, value: float, timestamp: float | None = None) -> float:
        return _squash(self.raw(value, timestamp))


class Cusum:
    """Two-sided CUSUM of standardised residuals (``k`` slack, ``h`` decision level)."""

    def __init__(self, k: float = 0.5, h: float = 8.0, window: int = 400) -> None:
        self.k, self.h = k, h
        self.values = _RobustStats(window)
        self.pos = 0.0
        self.neg = 0.0

    def raw(self, value: float) -> float:
        stat = 0.0
        if len(self.values) >= 30:
            self.values.z(value, 1e-12)  # refreshes med/mad
            r = (value - self.values.med) / max(self.values.mad, 1e-12)
            self.pos = max(0.0, self.pos + r - self.k)
            self.neg = max(0.0, self.neg - r - self.k)
            stat = max(self.pos, self.neg) / self.h
            if stat >= 1.0:  # a change is declared: restart from the new level
                self.pos = self.neg = 0.0
        self.values.push(value)
        return stat

    def update(self, value: float, timestamp: float | None = None) -> float:
        return min(1.0, self.raw(value))


def _squash(z: float) -> float:
    """A z-like surprise in [0, inf) to a score in [0, 1): 3 -> 0.5."""
    return z / (z + 3.0)


@dataclass(slots=True)
class _Running:
    """Mean and variance of the last ``size`` values, O(1) per update."""

    size: int
    buf: deque[float]
    total: float = 0.0
    squares: float = 0.0

    def push(self, value: float) -> None:
        self.buf.append(value)
        self.total += value
        self.squares += value * value
        if len(self.buf) > self.size:
            old = self.buf.popleft()
            self.total -= old
            self.squares -= old * old

    def stats(self) -> tuple[float, float]:
        n = len(self.buf)
        mean = self.total / n
        return mean, max(self.squares / n - mean * mean, 0.0)


class SurpriseLikelihood:
    """Robust and seasonal surprises -> anomaly likelihood.

    ``short``: points averaged for the recent surprise; ``long``: the surprise history it
    is compared with (its mean and deviation). ``combine``: how the robust and the
    seasonal surprise meet once a daily cycle is known: ``max`` (either may alarm; the
    default), ``min`` (the cycle explains what it can) or ``seasonal`` (the cycle alone)."""

    def __init__(
        self,
        *,
        window: int = 1000,
        short: int = 1,
        long: int = 2000,
        seasonal: bool = True,
        changes: bool = True,
        combine: Literal["max", "min", "seasonal"] = "max",
    ) -> None:
        if combine not in ("max", "min", "seasonal"):
            raise ValueError(f"combine must be max, min or seasonal, not {combine!r}")
        self.combine = combine
        self.robust = RobustZ(window, changes=changes)
        self.seasonal = SeasonalBaseline() if seasonal else None
        self.short = deque[float](maxlen=short)
        self.history = _Running(long, deque())
        self.n = 0

    def _combine(self, z: float, zs: float) -> float:
        if self.combine == "seasonal":
            return zs
        if self.combine == "max":
            return max(z, zs)
        return min(z, zs) if z > 0 else zs

    def update(self, value: float, timestamp: float | None = None) -> float:
        if not math.isfinite(value):
            return 0.0
        z = self.robust.raw(value)
        if self.seasonal is not None:
            zs = self.seasonal.raw(value, timestamp)
            if zs > 0:
                z = self._combine(z, zs)
        surprise = math.log1p(z)
        self.short.append(surprise)
        self.n += 1
        score = 0.0
        if len(self.history.buf) >= 100:
            recent = sum(self.short) / len(self.short)
            mean, var = self.history.stats()
            sd = math.sqrt(var) if var > 1e-12 else 1e-6
            score = _squash(max(0.0, (recent - mean) / sd - 1.0))
        self.history.push(surprise)
        return score


def score_series(
    detector: object, values: Iterable[float], timestamps: Iterable[float] | None = None
) -> NDArray[np.float64]:
    """Run a fresh ``detector`` (anything with ``update``) over a series."""
    update = detector.update  # type: ignore[attr-defined]
    if timestamps is None:
        return np.array([update(float(v), None) for v in values])
    return np.array([update(float(v), float(t)) for v, t in zip(values, timestamps, strict=True)])


class RelativeEntropy:
    """Distribution change of a sliding window (Wang et al., "Statistical techniques for
    online anomaly detection in data centers", IM 2011).

    The last ``window`` values' histogram (``bins`` bins over the range seen in the first
    ``warmup`` points, widened by half; values beyond it fall in the edge bins) is tested
    against every distribution seen so far (the hypotheses) with the relative-entropy
    statistic 2 W D(P||Q), chi-squared with ``bins - 1`` degrees of freedom under "same
    distribution". A window matching no hypothesis, or only one seen in fewer than
    ``rare`` windows, is anomalous (score 1) and becomes a hypothesis itself."""

    def __init__(
        self, window: int = 52, bins: int = 5, alpha: float = 0.01, rare: int = 4, warmup: int = 150
    ) -> None:
        from scipy.stats import chi2

        self.window, self.bins, self.rare, self.warmup = window, bins, rare, warmup
        self.critical = float(chi2.isf(alpha, bins - 1))
        self.values: deque[float] = deque(maxlen=window)
        self.seen: list[float] = []
        self.lo = self.hi = 0.0
        self._log_hypotheses = np.zeros((16, bins))  # log Q per hypothesis, rows in use
        self.counts: list[int] = []
        self.n = 0

    def update(self, value: float, timestamp: float | None = None) -> float:
        self.n += 1
        self.values.append(value)
        if self.n <= self.warmup:
            self.seen.append(value)
            if self.n == self.warmup:
                lo, hi = min(self.seen), max(self.seen)
                margin = 0.5 * (hi - lo) or 1.0
                self.lo, self.hi = lo - margin, hi + margin
            return 0.0
        edges = np.linspace(self.lo, self.hi, self.bins + 1)
        idx = np.clip(
            np.searchsorted(edges, np.fromiter(self.values, float), "right") - 1, 0, self.bins - 1
        )
        p = np.bincount(idx, minlength=self.bins) / len(self.values)
        best, best_stat = -1, math.inf
        if self.counts:
            mask = p > 0
            logs = self._log_hypotheses[: len(self.counts), mask]
            stats = 2 * len(self.values) * (p[mask] * (np.log(p[mask]) - logs)).sum(axis=1)
            best = int(np.argmin(stats))
            best_stat = float(stats[best])
        if best < 0 or best_stat > self.critical:
            q = np.maximum(p, 1e-3)
            self._add(np.log(q / q.sum()))
            self.counts.append(1)
            return 1.0
        self.counts[best] += 1
        return 1.0 if self.counts[best] < self.rare else 0.0

    def _add(self, log_q: NDArray[np.float64]) -> None:
        n = len(self.counts)
        if n == len(self._log_hypotheses):
            grown = np.zeros((max(16, 2 * n), self.bins))
            grown[:n] = self._log_hypotheses[:n]
            self._log_hypotheses = grown
        self._log_hypotheses[n] = log_q


class Refractory:
    """One alarm per event: within ``points`` of a score, only a higher one is reported."""

    def __init__(self, detector: object, points: int = 300) -> None:
        self.detector = detector
        self.points = points
        self._recent: deque[tuple[int, float]] = deque()
        self.n = 0

    def update(self, value: float, timestamp: float | None = None) -> float:
        score = float(self.detector.update(value, timestamp))  # type: ignore[attr-defined]
        self.n += 1
        recent = self._recent
        while recent and recent[0][0] <= self.n - self.points:
            recent.popleft()
        ceiling = recent[0][1] if recent else 0.0
        while recent and recent[-1][1] <= score:
            recent.pop()
        recent.append((self.n, score))
        return score if score > ceiling else 0.0


class Ensemble:
    """The maximum of several detectors' scores, each scaled by a weight."""

    def __init__(self, *parts: tuple[object, float], how: str = "max") -> None:
        self.parts = parts
        self.how = how

    def update(self, value: float, timestamp: float | None = None) -> float:
        scores = [w * float(d.update(value, timestamp)) for d, w in self.parts]  # type: ignore[attr-defined]
        if self.how == "max":
            return max(scores)
        return sum(scores) / sum(w for _, w in self.parts)  # "mean": a weighted mean


class AnomalyDetector:
    """The default detector: surprise likelihood plus distribution change, one alarm per event.

    The score is the weighted mean of :class:`SurpriseLikelihood` (spikes, level shifts,
    contextual dips against the daily cycle) and :class:`RelativeEntropy` (a change in
    the shape of the recent distribution), passed through :class:`Refractory` (within
    ``refractory`` points of an alarm only a stronger one is reported). Parameters were
    chosen on the NAB corpus (``benchmarks/bench_monitoring.py`` prints the scores)."""

    def __init__(
        self,
        *,
        refractory: int = 300,
        entropy_weight: float = 0.4,
        combine: Literal["max", "min", "seasonal"] = "max",
    ) -> None:
        self._inner = Refractory(
            Ensemble(
                (SurpriseLikelihood(combine=combine), 1.0),
                # The value range is learned over the first 750 points: NAB's learning
                # period (its probation is 15% of a file, at most 750 points).
                (RelativeEntropy(window=30, bins=7, warmup=750), entropy_weight),
                how="mean",
            ),
            refractory,
        )

    def update(self, value: float, timestamp: float | None = None) -> float:
        if not math.isfinite(value):
            return 0.0
        return self._inner.update(value, timestamp)
