"""Business analytics on listening events, subscriptions and payments (extra ``analytics``).

Queries are written once with Ibis and run on DuckDB in memory by default (CSV/Parquet
folders) or on any Ibis backend that holds the same tables (PostgreSQL tested).
:func:`create_business_analytics` is the seed's entry point; ``backbeat analytics kpis``
and ``backbeat analytics synthetic`` its commands. This first part covers the data
model, checked loading, exact KPIs and the synthetic generator.
"""

from __future__ import annotations

from backbeat.analytics._churn import FEATURES, ChurnReport, churn_features, churn_report
from backbeat.analytics._database import DatabaseSource, database_rows, open_database
from backbeat.analytics._errors import AnalyticsInputError, AnalyticsNotConfigured
from backbeat.analytics._forecast import (
    CANDIDATES,
    METRICS,
    Forecast,
    ForecastPoint,
    daily_metric,
    forecast_series,
)
from backbeat.analytics._kpis import Kpis, Period, compute_kpis, parse_period
from backbeat.analytics._ltv import (
    BgNbd,
    GammaGamma,
    LifetimeValue,
    lifetime_value,
    rfm_summary,
)
from backbeat.analytics._report import build_report, render_html
from backbeat.analytics._segments import (
    SEGMENT_FEATURES,
    Segment,
    SegmentReport,
    segment_users,
    user_features,
)
from backbeat.analytics._service import BusinessAnalytics, create_business_analytics, open_any
from backbeat.analytics._source import COLUMNS, Source, load_frames, open_source
from backbeat.analytics._synthetic import generate

__all__ = [
    "CANDIDATES",
    "COLUMNS",
    "FEATURES",
    "METRICS",
    "SEGMENT_FEATURES",
    "AnalyticsInputError",
    "AnalyticsNotConfigured",
    "BgNbd",
    "BusinessAnalytics",
    "ChurnReport",
    "DatabaseSource",
    "Forecast",
    "ForecastPoint",
    "GammaGamma",
    "Kpis",
    "LifetimeValue",
    "Period",
    "Segment",
    "SegmentReport",
    "Source",
    "build_report",
    "churn_features",
    "churn_report",
    "compute_kpis",
    "create_business_analytics",
    "daily_metric",
    "database_rows",
    "forecast_series",
    "generate",
    "lifetime_value",
    "load_frames",
    "open_any",
    "open_database",
    "open_source",
    "parse_period",
    "render_html",
    "rfm_summary",
    "segment_users",
    "user_features",
]
