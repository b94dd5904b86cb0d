"""Forecasts: the model chosen by backtest, calibrated intervals, errors, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("statsmodels", reason="the analytics extra")

from backbeat.analytics import (
    AnalyticsInputError,
    create_business_analytics,
    forecast_series,
    generate,
)

BACKBEAT = str(Path(sys.executable).with_name("backbeat"))


def _planted(days: int, seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    weekly = np.array([0, 0, 0, 0, 5, 25, 20])[(t + 2) % 7]
    values = 200 + 0.5 * t + weekly + rng.normal(0, 6, days)
    return pd.Series(values, index=pd.date_range("2025-01-01", periods=days, freq="D"))


def test_a_weekly_series_gets_a_weekly_model_and_honest_intervals() -> None:
    hits, total = 0, 0
    for seed in range(2):
        series = _planted(280, seed)
        future = _planted(310, seed).iloc[280:]
        result = forecast_series(series.iloc[:280], "dau", 30, 0.95)
        assert "weekly" in result.model
        chosen = result.backtest[result.model]
        assert 0.8 <= chosen["calibrated_coverage"] <= 1.0
        lower = np.array([p.lower for p in result.points])
        upper = np.array([p.upper for p in result.points])
        truth = future.to_numpy()
        hits += int(((truth >= lower) & (truth <= upper)).sum())
        total += truth.size
        assert result.points[0].date.isoformat() == "2025-10-08"
    assert hits / total >= 0.85  # the next 30 days, never seen by the model


def test_too_short_or_bad_arguments_are_named() -> None:
    with pytest.raises(AnalyticsInputError, match="too short"):
        forecast_series(_planted(40, 0), "revenue", 30, 0.95)
    with pytest.raises(AnalyticsInputError, match="confidence"):
        forecast_series(_planted(200, 0), "revenue", 30, 1.5)


@pytest.mark.anyio
async def test_predict_revenue_and_predictions_in_metrics(tmp_path: Path) -> None:
    generate(300, 150, 5, tmp_path)
    analytics = create_business_analytics(tmp_path)
    forecast = await analytics.predict_revenue(horizon_days=14, confidence_interval=0.9)
    body = forecast.to_dict()
    assert len(body["forecast"]) == 14
    assert all(p["lower"] <= p["mean"] <= p["upper"] for p in body["forecast"])
    metrics = await analytics.get_business_metrics("last_30_days", include_predictions=True)
    assert set(metrics.to_dict()["predictions"]) == {"revenue", "dau"}


def test_cli_forecast_json(tmp_path: Path) -> None:
    generate(300, 150, 6, tmp_path)
    run = subprocess.run(
        [
            BACKBEAT,
            "analytics",
            "forecast",
            "--source",
            str(tmp_path),
            "--metric",
            "revenue",
            "--horizon-days",
            "10",
            "--confidence",
            "0.95",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    body = json.loads(run.stdout)
    assert [set(p) for p in body["forecast"]] == [{"date", "mean", "lower", "upper"}] * 10
    bad = subprocess.run(
        [BACKBEAT, "analytics", "forecast", "--source", str(tmp_path), "--metric", "profit"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0
    assert "profit" in bad.stderr
    assert "Traceback" not in bad.stderr
