"""Forecasts of a daily KPI with prediction intervals, the model chosen by backtest.

Candidates are exponential-smoothing state-space models (statsmodels' ``ETSModel``,
additive errors): level only, damped additive trend, and each with a weekly additive
season. Each is scored on a rolling-origin backtest (up to 4 origins, ``horizon`` days
each, refitted on the data before every origin): MASE against the in-sample weekly naive
forecast, and the share of held-out days inside the model's own interval. The lowest MASE
wins and is refitted on everything. Its interval is the model's analytic one widened to
what the backtest's errors call for (the ``confidence`` quantile of |error| / the model's
standard deviation; never narrower), and that calibration's coverage is measured by
leaving each backtest origin out in turn (``calibrated_coverage``).
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from backbeat.analytics._errors import input_error

__all__ = ["CANDIDATES", "Forecast", "ForecastPoint", "forecast_series"]

#: (name, trend, damped, seasonal)
CANDIDATES: tuple[tuple[str, str | None, bool, str | None], ...] = (
    ("ETS(A,N,N)", None, False, None),
    ("ETS(A,Ad,N)", "add", True, None),
    ("ETS(A,N,A) weekly", None, False, "add"),
    ("ETS(A,Ad,A) weekly", "add", True, "add"),
)
SEASON = 7


@dataclass(frozen=True, slots=True)
class ForecastPoint:
    date: dt.date
    mean: float
    lower: float
    upper: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "mean": round(self.mean, 4),
            "lower": round(self.lower, 4),
            "upper": round(self.upper, 4),
        }


@dataclass
class Forecast:
    metric: str
    horizon_days: int
    confidence: float
    model: str
    points: list[ForecastPoint]
    backtest: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "horizon_days": self.horizon_days,
            "confidence": self.confidence,
            "model": self.model,
            "forecast": [p.to_dict() for p in self.points],
            "backtest": self.backtest,
        }


def _fit(values: np.ndarray, trend: str | None, damped: bool, seasonal: str | None) -> Any:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    model = ETSModel(
        pd.Series(values),  # a RangeIndex: statsmodels labels predictions by it
        error="add",
        trend=trend,
        damped_trend=damped,
        seasonal=seasonal,
        seasonal_periods=SEASON if seasonal else None,
    )
    with warnings.catch_warnings():  # convergence chatter on flat stretches
        warnings.simplefilter("ignore")
        return model.fit(disp=False)


def _predict(fitted: Any, n: int, horizon: int, confidence: float) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prediction = fitted.get_prediction(start=n, end=n + horizon - 1)
        return prediction.summary_frame(alpha=1 - confidence)


def _mase_scale(train: np.ndarray) -> float:
    diffs = np.abs(train[SEASON:] - train[:-SEASON])
    scale = float(diffs.mean()) if diffs.size else 0.0
    return scale if scale > 0 else float(np.abs(np.diff(train)).mean() or 1.0)


def forecast_series(
    series: pd.Series, metric: str, horizon: int, confidence: float, *, source: str = "<series>"
) -> Forecast:
    """Forecast a daily series (a ``date``-indexed, gap-free ``pd.Series``)."""
    if not 0.5 <= confidence < 1:
        raise input_error(source, "confidence", "-", f"{confidence!r} is not in [0.5, 1)")
    if horizon < 1:
        raise input_error(source, "horizon_days", "-", "must be 1 or more")
    values = series.to_numpy(dtype=float)
    needed = 4 * SEASON + horizon
    if values.size < needed:
        raise input_error(
            source,
            metric,
            "-",
            f"{values.size} days are too short to forecast {horizon} days (at least {needed})",
        )
    origins = [
        values.size - k * horizon for k in range(1, 5) if values.size - k * horizon >= 4 * SEASON
    ]
    z = float(norm.ppf(0.5 + confidence / 2))
    scores: dict[str, dict[str, float]] = {}
    ratios: dict[str, list[np.ndarray]] = {}
    for name, trend, damped, seasonal in CANDIDATES:
        errors, covered, total = [], 0, 0
        ratios[name] = []
        for origin in origins:
            train, test = values[:origin], values[origin : origin + horizon]
            frame = _predict(_fit(train, trend, damped, seasonal), origin, test.size, confidence)
            mean = frame["mean"].to_numpy()
            errors.append(float(np.abs(mean - test).mean()) / _mase_scale(train))
            inside = (test >= frame["pi_lower"].to_numpy()) & (test <= frame["pi_upper"].to_numpy())
            covered += int(inside.sum())
            total += test.size
            sd = np.maximum((frame["pi_upper"].to_numpy() - mean) / z, 1e-12)
            ratios[name].append(np.abs(test - mean) / sd)
        scores[name] = {
            "mase": round(float(np.mean(errors)), 4),
            "coverage": round(covered / total, 4),
            "origins": len(origins),
        }
    best = min(CANDIDATES, key=lambda c: (scores[c[0]]["mase"], c[0]))
    # Calibration: the model's interval assumes its own errors; the backtest shows the real
    # ones. The half-width becomes the `confidence` quantile of |error| / sd over the
    # backtest (never narrower than the model's), and its coverage is checked by leaving
    # each origin out in turn.
    chosen = ratios[best[0]]
    held, hits = 0, 0
    for i, ratio in enumerate(chosen):
        rest = [r for j, r in enumerate(chosen) if j != i] or [ratio]
        k = max(float(np.quantile(np.concatenate(rest), confidence)), z)
        hits += int((ratio <= k).sum())
        held += ratio.size
    scores[best[0]]["calibrated_coverage"] = round(hits / held, 4)
    scale = max(float(np.quantile(np.concatenate(chosen), confidence)), z)
    fitted = _fit(values, best[1], best[2], best[3])
    frame = _predict(fitted, values.size, horizon, confidence)
    mean = frame["mean"].to_numpy()
    half = (frame["pi_upper"].to_numpy() - mean) / z * scale
    last = pd.Timestamp(series.index[-1]).date()
    points = [
        ForecastPoint(
            last + dt.timedelta(days=i + 1),
            float(mean[i]),
            float(mean[i] - half[i]) if metric == "revenue" else max(0.0, mean[i] - half[i]),
            float(mean[i] + half[i]),
        )
        for i in range(horizon)
    ]
    if any(not math.isfinite(p.mean) for p in points):
        raise input_error(source, metric, "-", "the series cannot be forecast (no finite fit)")
    return Forecast(metric, horizon, confidence, best[0], points, scores)


METRICS = ("revenue", "dau", "listening_hours")


def daily_metric(source: Any, metric: str) -> pd.Series:
    """A gap-free daily series of ``metric`` over the source's whole history."""
    import ibis

    if metric not in METRICS:
        raise input_error(
            "--metric", "metric", "-", f"{metric!r} is not one of {', '.join(METRICS)}"
        )
    if metric == "revenue":
        if not source.has("payments"):
            raise input_error(source.origin, "payments", "-", "revenue needs payments.csv|parquet")
        t = source.tables["payments"]
        signed = ibis.cases((t.kind == "refund", -t.amount.abs()), else_=t.amount)
        expr = t.group_by(day=t.paid_at.date()).aggregate(v=signed.sum())
    else:
        t = source.tables["events"]
        value = t.user_id.nunique() if metric == "dau" else t.ms_played.sum() / 3_600_000
        expr = t.group_by(day=t.timestamp.date()).aggregate(v=value)
    frame = expr.to_pyarrow().to_pandas()
    if frame.empty:
        raise input_error(source.origin, metric, "-", "no data to forecast")
    series = pd.Series(frame["v"].to_numpy(dtype=float), index=pd.to_datetime(frame["day"]))
    series = series.sort_index()
    full = pd.date_range(series.index.min(), series.index.max(), freq="D")
    return series.reindex(full, fill_value=0.0)
