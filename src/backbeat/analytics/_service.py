"""``create_business_analytics(source)``: the seed's ``business_analytics``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from backbeat.analytics._churn import ChurnReport, churn_report
from backbeat.analytics._errors import input_error
from backbeat.analytics._forecast import Forecast, daily_metric, forecast_series
from backbeat.analytics._kpis import Kpis, compute_kpis, parse_period
from backbeat.analytics._ltv import LifetimeValue, lifetime_value
from backbeat.analytics._segments import SegmentReport, segment_users
from backbeat.analytics._source import Source, open_source

__all__ = ["BusinessAnalytics", "create_business_analytics"]


class BusinessAnalytics:
    """KPIs over one source. ``today`` anchors ``last_N_days`` (default: the data's last day)."""

    def __init__(self, source: Source, *, today: dt.date | None = None) -> None:
        self.source = source
        self.today = today

    def _today(self) -> dt.date:
        if self.today is not None:
            return self.today
        ev = self.source.tables["events"]
        last = ev.timestamp.max().to_pyarrow().as_py()
        return last.date() if last is not None else dt.datetime.now(dt.UTC).date()

    async def get_business_metrics(
        self, date_range: str = "last_30_days", include_predictions: bool = False
    ) -> Kpis:
        """The KPIs of ``date_range`` (``last_N_days`` or ``YYYY-MM-DD..YYYY-MM-DD``); with
        ``include_predictions``, ``kpis.predictions`` holds 30-day revenue (when payments
        exist) and DAU forecasts with 95% intervals."""
        import anyio

        period = parse_period(date_range, today=self._today())
        kpis = await anyio.to_thread.run_sync(compute_kpis, self.source, period)
        if include_predictions:
            metrics = ["revenue", "dau"] if self.source.has("payments") else ["dau"]
            for metric in metrics:
                predicted = await self.predict_revenue(30, 0.95, metric=metric)
                kpis.predictions[metric] = predicted.to_dict()
        return kpis

    async def predict_revenue(
        self, horizon_days: int = 90, confidence_interval: float = 0.95, metric: str = "revenue"
    ) -> Forecast:
        """Daily ``metric`` for the next ``horizon_days`` with ``confidence_interval`` bands."""
        import anyio

        def run() -> Forecast:
            series = daily_metric(self.source, metric)
            return forecast_series(
                series, metric, horizon_days, confidence_interval, source=self.source.origin
            )

        return await anyio.to_thread.run_sync(run)

    async def predict_churn(self, seed: int = 0) -> ChurnReport:
        """Churn in the next 30 days: the model's and the baseline's AUC, calibration."""
        import anyio

        return await anyio.to_thread.run_sync(lambda: churn_report(self.source, seed=seed))

    async def lifetime_value(self, horizon_weeks: float = 52.0) -> LifetimeValue:
        """BG/NBD + Gamma-Gamma on the charges in ``payments``, to the data's last day."""
        import anyio

        def run() -> LifetimeValue:
            if not self.source.has("payments"):
                raise input_error(
                    self.source.origin, "payments", "-", "lifetime value needs payments"
                )
            pay = self.source.tables["payments"].to_pyarrow().to_pandas()
            end = pd.Timestamp(pay["paid_at"].max()).to_pydatetime()
            return lifetime_value(pay, end, horizon_weeks)

        return await anyio.to_thread.run_sync(run)

    async def analyze_user_behavior(
        self,
        segments: list[str] | None = None,
        ml_clustering: bool = True,
        date_range: str = "last_30_days",
    ) -> SegmentReport:
        """Segments of ``date_range``'s users: k-means (k by silhouette) within each plan
        of ``segments``, or the plans alone without ``ml_clustering``."""
        import anyio

        period = parse_period(date_range, today=self._today())
        return await anyio.to_thread.run_sync(
            lambda: segment_users(self.source, period, segments=segments, cluster=ml_clustering)
        )


def create_business_analytics(source: Any, *, backend: Any = None) -> BusinessAnalytics:
    """From a folder of events/subscriptions/payments files (CSV or Parquet)."""
    if isinstance(source, str | Path):
        return BusinessAnalytics(open_source(Path(source), backend=backend))
    raise input_error(str(source)[:80], "-", "-", "expected a folder of CSV/Parquet files")
