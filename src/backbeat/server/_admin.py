"""Model administration (``admin`` scope): train as a job, follow it, list versions.

``POST /v1/admin/models/train`` queues a training job on the service's queue (the
embedded worker or ``backbeat worker`` processes run it) and answers ``202`` with
the job and its ``Location``; ``GET /v1/admin/models/train/{id}`` reports it, with
its result (version, promoted or not and why) when done. ``GET /v1/admin/models``
lists the registry's versions and the production one. With
``BACKBEAT_RETRAIN_INTERVAL_H`` above 0, :func:`retrain_on_schedule` requests a
retrain (hybrid recipe, promotion by the not-worse rule) whenever the latest one is
older than the interval.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from backbeat.errors import BackbeatError, NotFound
from backbeat.server._context import record_write
from backbeat.server._deps import Admin, Services, ServicesDep

__all__ = ["TrainRequest", "retrain_on_schedule", "router"]

log = logging.getLogger("backbeat.server")
router = APIRouter(prefix="/v1/admin/models", tags=["administration"])
ModelName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]


class TrainRequest(BaseModel):
    name: ModelName = "recommendation"
    model: Literal["hybrid", "als", "item_cooccurrence"] = "hybrid"
    factors: Annotated[int, Field(ge=2, le=512)] = 64
    iterations: Annotated[int, Field(ge=1, le=100)] = 15
    promote: bool = True

    def recipe(self) -> dict[str, Any]:
        return {"model": self.model, "factors": self.factors, "iterations": self.iterations}


@router.post(
    "/train",
    status_code=202,
    summary="Queue a training job on stored listening events",
    responses={202: {"description": "Queued; follow the Location"}},
)
async def train(
    request: Request, body: TrainRequest, services: ServicesDep, principal: Admin
) -> JSONResponse:
    job, _ = await services.catalogue.training.request(
        body.name, body.recipe(), promote=body.promote, requested_by=principal.actor
    )
    await record_write(request, "model.train", f"model:{body.name}", {"job": job.id})
    await services.training_requested(job.id)
    return JSONResponse(
        job.to_dict(),
        status_code=202,
        headers={"Location": f"/v1/admin/models/train/{job.id}"},
    )


@router.get("/train/{job_id}", summary="A training job and, when done, its result")
async def training_job(
    job_id: Annotated[str, Path(pattern="^[0-9a-f]{32}$")], services: ServicesDep, _: Admin
) -> dict[str, Any]:
    job = await services.catalogue.training.get(job_id)
    if job is None:
        raise NotFound(details={"id": job_id})
    return job.to_dict()


@router.get("", summary="Registered versions of a model and the production one")
async def versions(services: ServicesDep, _: Admin, name: str = "recommendation") -> dict[str, Any]:
    registry = services.registry
    listed = await anyio.to_thread.run_sync(registry.list, name)
    return {
        "name": name,
        "production_version": registry.production_version(name),
        "versions": [
            {
                "version": v.version,
                "kind": v.kind,
                "metrics": v.metrics,
                "created_at": v.created_at,
            }
            for v in listed
        ],
    }


async def retrain_on_schedule(services: Services, name: str = "recommendation") -> None:
    """Forever: request a retrain when the latest is older than the interval."""
    interval = dt.timedelta(hours=services.settings.retrain_interval_h)
    check_s = min(60.0, interval.total_seconds())
    while True:
        try:
            latest = await services.catalogue.training.latest(name)
            due = latest is None or dt.datetime.now(dt.UTC) - latest.created_at >= interval
            if due:
                job, created = await services.catalogue.training.request(
                    name,
                    TrainRequest(name=name).recipe(),
                    promote=True,
                    requested_by="schedule",
                    unless_pending=True,
                )
                if created:
                    log.info("scheduled retrain of %s queued as %s", name, job.id)
                    await services.training_requested(job.id)
        except (OSError, SQLAlchemyError, BackbeatError) as exc:  # try again next round
            log.warning("retrain schedule: %s", type(exc).__name__)
        await asyncio.sleep(check_s)
