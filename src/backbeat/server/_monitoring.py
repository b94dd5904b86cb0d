"""SLOs and alerts for operators (``admin`` scope).

``GET /v1/admin/slo``: each objective, its burn rates over its alert windows and the
budget left over what the evaluator has seen. ``GET /v1/admin/alerts``: active and
recently resolved alerts, silences, receivers (names and hosts, never URLs or keys).
``POST /v1/admin/alerts/silences`` and ``DELETE .../silences/{id}``; ``POST
/v1/admin/alerts/{fingerprint}/ack`` stops a page's escalation. Under several worker
processes one evaluates; every process answers from its state file.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from backbeat.errors import NotFound
from backbeat.server._context import record_write
from backbeat.server._deps import Admin, ServicesDep

__all__ = ["router"]

router = APIRouter(prefix="/v1/admin", tags=["administration"])
Label = Annotated[str, Field(min_length=1, max_length=200)]


class SilenceRequest(BaseModel):
    matchers: dict[Label, Label] = Field(min_length=1, max_length=20)
    duration_minutes: Annotated[float, Field(gt=0, le=43200)] = 60
    comment: Annotated[str, Field(max_length=500)] = ""


@router.get("/slo", summary="Service-level objectives: burn rates and budget left")
async def slo(services: ServicesDep, _: Admin) -> dict[str, Any]:
    report = services.toolkit.monitor.current_report()
    return {"slos": report.get("slo", []), "evaluated_at": report.get("evaluated_at")}


@router.get("/alerts", summary="Active alerts, silences and receivers")
async def alerts(services: ServicesDep, _: Admin) -> dict[str, Any]:
    report = services.toolkit.monitor.current_report()
    report.pop("slo", None)
    return report


@router.post("/alerts/silences", status_code=201, summary="Silence alerts matching labels")
async def silence(
    request: Request, body: SilenceRequest, services: ServicesDep, principal: Admin
) -> JSONResponse:
    created = services.toolkit.monitor.add_silence(
        body.matchers, body.duration_minutes * 60, by=principal.actor, comment=body.comment
    )
    await record_write(request, "alerts.silence", f"silence:{created.id}", dict(body.matchers))
    return JSONResponse(created.to_dict(), status_code=201)


@router.delete("/alerts/silences/{silence_id}", status_code=204, summary="Expire a silence")
async def expire(
    request: Request,
    silence_id: Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")],
    services: ServicesDep,
    _: Admin,
) -> JSONResponse:
    if not services.toolkit.monitor.expire_silence(silence_id):
        raise NotFound(details={"silence": silence_id})
    await record_write(request, "alerts.unsilence", f"silence:{silence_id}", {})
    return JSONResponse(None, status_code=204)


@router.post("/alerts/{fingerprint}/ack", summary="Acknowledge a firing alert")
async def acknowledge(
    request: Request,
    fingerprint: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")],
    services: ServicesDep,
    _: Admin,
) -> dict[str, Any]:
    if not services.toolkit.monitor.acknowledge(fingerprint):
        raise NotFound(details={"alert": fingerprint})
    await record_write(request, "alerts.ack", f"alert:{fingerprint}", {})
    return {"fingerprint": fingerprint, "acknowledged": True}
