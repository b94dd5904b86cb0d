"""``create_business_analytics(source)``: the seed's ``business_analytics``."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from backbeat.analytics._churn import ChurnReport, churn_report
from backbeat.analytics._database import open_database
from backbeat.analytics._errors import input_error
from backbeat.analytics._forecast import Forecast, daily_metric, forecast_series
from backbeat.analytics._kpis import Kpis, compute_kpis, parse_period
from backbeat.analytics._ltv import LifetimeValue, lifetime_value
from backbeat.analytics._segments import SegmentReport, segment_users
from backbeat.analytics._source import Source, open_source

__all__ = ["BusinessAnalytics", "create_business_analytics", "open_any"]

T = TypeVar("T")


class BusinessAnalytics:
    """KPIs over one source. ``today`` anchors ``last_N_days`` (default: the data's last day).

    Calls run one at a time in a worker thread (an embedded DuckDB connection is not shared
    between threads), each on the source as it is then (a database source re-reads what
    changed)."""

    def __init__(self, source: Source, *, today: dt.date | None = None) -> None:
        self.source = source
        self.today = today
        self._lock = threading.Lock()

    async def _run(self, work: Callable[[], T]) -> T:
        import anyio

        def locked() -> T:
            with self._lock:
                self.source.refresh()
                return work()

        return await anyio.to_thread.run_sync(locked)

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

        def run() -> Kpis:
            return compute_kpis(self.source, parse_period(date_range, today=self._today()))

        kpis = await self._run(run)
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

        def run() -> Forecast:
            series = daily_metric(self.source, metric)
            return forecast_series(
                series, metric, horizon_days, confidence_interval, source=self.source.origin
            )

        return await self._run(run)

    async def predict_churn(self, seed: int = 0) -> ChurnReport:
        """Churn in the next 30 days: the model's and the baseline's AUC, calibration."""
        return await self._run(lambda: churn_report(self.source, seed=seed))

    async def lifetime_value(self, horizon_weeks: float = 52.0) -> LifetimeValue:
        """BG/NBD + Gamma-Gamma on the charges in ``payments``, to the data's last day."""

        def run() -> LifetimeValue:
            if not self.source.has("payments"):
                raise input_error(
                    self.source.origin, "payments", "-", "lifetime value needs payments"
                )
            pay = self.source.tables["payments"].to_pyarrow().to_pandas()
            end = pd.Timestamp(pay["paid_at"].max()).to_pydatetime()
            return lifetime_value(pay, end, horizon_weeks)

        return await self._run(run)

    async def analyze_user_behavior(
        self,
        segments: list[str] | None = None,
        ml_clustering: bool = True,
        date_range: str = "last_30_days",
    ) -> SegmentReport:
        """Segments of ``date_range``'s users: k-means (k by silhouette) within each plan
        of ``segments``, or the plans alone without ``ml_clustering``."""

        def run() -> SegmentReport:
            period = parse_period(date_range, today=self._today())
            return segment_users(self.source, period, segments=segments, cluster=ml_clustering)

        return await self._run(run)


def open_any(source: str | Path) -> Source:
    """A checked, up-to-date :class:`Source`: a folder of files or a database URL."""
    if isinstance(source, str) and "://" in source:
        opened: Source = open_database(source)
        opened.refresh()
        return opened
    return open_source(Path(source))


def create_business_analytics(source: Any, *, backend: Any = None) -> BusinessAnalytics:
    """From a folder of events/subscriptions/payments files (CSV or Parquet), a database URL
    (``sqlite:///...``, ``postgresql://...``: the service's own tables) or a ``Toolkit``
    (its database)."""
    if isinstance(source, str) and "://" in source:
        return BusinessAnalytics(open_database(source))
    if isinstance(source, str | Path):
        return BusinessAnalytics(open_source(Path(source), backend=backend))
    settings = getattr(source, "settings", None)
    url = getattr(settings, "database_url", None)
    if isinstance(url, str) and url:
        return BusinessAnalytics(open_database(url))
    raise input_error(
        str(source)[:80], "-", "-", "expected a folder of CSV/Parquet files, a URL or a Toolkit"
    )
