"""Holt's linear exponential smoothing with prediction intervals, for predictive alerts.

Level and trend are updated per point (``alpha``, ``beta``); the ``h``-step forecast is
``level + h * trend``, and its interval uses the one-step residuals' deviation scaled by
the method's variance growth (Hyndman and Athanasopoulos, *Forecasting: Principles and
Practice*, ETS(A,A,N)): var_h = s^2 (1 + (h - 1)(alpha^2 + alpha beta h + beta^2 h (2h - 1) / 6)).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from scipy.stats import norm

__all__ = ["Forecast", "Holt"]


@dataclass(frozen=True, slots=True)
class Forecast:
    mean: float
    lower: float
    upper: float
    steps: int


class Holt:
    def __init__(self, alpha: float = 0.3, beta: float = 0.1, residuals: int = 200) -> None:
        self.alpha, self.beta = alpha, beta
        self.level: float | None = None
        self.trend = 0.0
        self.errors: deque[float] = deque(maxlen=residuals)
        self.n = 0

    def update(self, value: float) -> None:
        if self.level is None:
            self.level = value
            self.n = 1
            return
        predicted = self.level + self.trend
        self.errors.append(value - predicted)
        level = self.alpha * value + (1 - self.alpha) * predicted
        self.trend = self.beta * (level - self.level) + (1 - self.beta) * self.trend
        self.level = level
        self.n += 1

    def forecast(self, steps: int, confidence: float = 0.9) -> Forecast | None:
        """``steps`` ahead with a two-sided ``confidence`` interval; ``None`` before 10 points."""
        if self.level is None or len(self.errors) < 10:
            return None
        h = max(1, steps)
        s2 = sum(e * e for e in self.errors) / len(self.errors)
        a, b = self.alpha, self.beta
        var = s2 * (1 + (h - 1) * (a * a + a * b * h + b * b * h * (2 * h - 1) / 6))
        z = float(norm.ppf(0.5 + confidence / 2))
        mean = self.level + h * self.trend
        half = z * math.sqrt(var)
        return Forecast(mean, mean - half, mean + half, h)
