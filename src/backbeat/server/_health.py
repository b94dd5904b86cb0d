"""``GET /health``: the state of every configured backend and of the analysis queue.

200 with ``"status": "ok"`` when every backend answers, 503 with
``"status": "degraded"`` otherwise, so load balancers can act on the code alone.
The ``analysis`` block reports the queue (jobs queued, running and failed, the age
of the oldest queued job) and the analysis workers whose heartbeat is recent;
it informs operators and never changes the status code (a stopped worker delays
analyses, it does not stop the API).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from backbeat.catalogue import alive_window
from backbeat.server._deps import Services, ServicesDep

router = APIRouter(tags=["operations"])


async def analysis_report(services: Services) -> dict[str, Any]:
    """The queue and the live workers, as ``/health`` shows them."""
    jobs = services.catalogue.jobs
    stats = await jobs.stats()
    workers = await jobs.workers(seen_within=alive_window())
    age = stats.oldest_age_s()
    return {
        "queued": stats.queued,
        "running": stats.running,
        "failed": stats.failed,
        "oldest_queued_age_s": round(age, 1) if age is not None else None,
        "embedded_worker": services.settings.embedded_worker,
        "workers": [
            {
                "id": w.worker_id,
                "mode": w.mode,
                "host": w.host,
                "pid": w.pid,
                "processed": w.processed,
                "started_at": w.started_at.isoformat(),
                "seen_at": w.seen_at.isoformat(),
            }
            for w in workers
        ],
    }


@router.get(
    "/health",
    summary="Health of the service, its backends and the analysis queue",
    responses={503: {"description": "At least one configured backend is down"}},
)
async def health(services: ServicesDep) -> JSONResponse:
    report = await services.toolkit.health()
    body: dict[str, Any] = report.to_dict()
    if report.status == "ok":
        served = services.model.current
        body["recommendations"] = {
            "model": services.model.name,
            "production_version": services.model.production_version(),
            "serving": served.label if served is not None else None,
        }
        try:
            body["analysis"] = await analysis_report(services)
        except (OSError, SQLAlchemyError):  # the database went away between the two reads
            body["analysis"] = None
    return JSONResponse(body, status_code=200 if report.status == "ok" else 503)
