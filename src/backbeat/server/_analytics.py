"""Business analytics for operators (``admin`` scope), over ``BACKBEAT_ANALYTICS_SOURCE`` or,
without it, the service's own database (listening and billing events).

``GET /v1/analytics/kpis?period=``, ``GET /v1/analytics/cohorts?period=`` (the retention
matrix) and ``GET /v1/analytics/forecast?metric=revenue&horizon_days=90&confidence=0.95``.
Computed in a worker thread, one at a time; every call sees the events recorded so far.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from backbeat.errors import ConfigurationError
from backbeat.server._deps import Admin, ServicesDep

__all__ = ["router"]

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])
Period = Annotated[str, Query(max_length=40, description="YYYY-MM-DD..YYYY-MM-DD or last_N_days")]


def _analytics(services: Any) -> Any:
    try:
        return services.toolkit.analytics
    except ConfigurationError as exc:
        from backbeat.analytics import AnalyticsNotConfigured

        raise AnalyticsNotConfigured(details={"setting": "BACKBEAT_ANALYTICS_SOURCE"}) from exc


@router.get("/kpis", summary="KPIs of a period (DAU/WAU/MAU, sessions, MRR, ARPU, churn...)")
async def kpis(services: ServicesDep, _: Admin, period: Period = "last_30_days") -> dict[str, Any]:
    result = await _analytics(services).get_business_metrics(date_range=period)
    body: dict[str, Any] = result.to_dict()
    return body


@router.get("/cohorts", summary="Monthly cohort retention as of the period's end")
async def cohorts(
    services: ServicesDep, _: Admin, period: Period = "last_30_days"
) -> dict[str, Any]:
    result = await _analytics(services).get_business_metrics(date_range=period)
    return {"period": str(result.period), "retention": result.retention}


@router.get("/forecast", summary="A daily forecast with prediction intervals")
async def forecast(
    services: ServicesDep,
    _: Admin,
    metric: Annotated[str, Query(pattern="^(revenue|dau|listening_hours)$")] = "revenue",
    horizon_days: Annotated[int, Query(ge=1, le=365)] = 90,
    confidence: Annotated[float, Query(ge=0.5, lt=1.0)] = 0.95,
) -> dict[str, Any]:
    analytics = _analytics(services)
    result = await analytics.predict_revenue(horizon_days, confidence, metric=metric)
    body: dict[str, Any] = result.to_dict()
    return body
