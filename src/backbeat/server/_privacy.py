"""Privacy: data-subject requests, consent and records of processing.

- ``POST /v1/privacy/requests`` ``{"user", "type", "email", "jurisdiction", "changes"}`` ->
  202 ``{"id", "status": "pending_verification", "due_at"}``; the code goes to ``email``
  (SMTP, or an ``.eml`` file under ``<data dir>/outbox/`` on the embedded default). The
  answer is the same whether the user is known or not.
- ``POST /v1/privacy/requests/{id}/verify`` ``{"token"}``: carries the request out.
- ``GET /v1/privacy/requests/{id}``, ``GET /v1/privacy/requests/{id}/export`` (the ZIP).
- ``GET|PUT /v1/privacy/consents/{user}``.
- Operators (``admin``): ``GET /v1/privacy/requests?overdue=true``,
  ``POST /v1/privacy/requests/{id}/extend``, ``GET /v1/privacy/records``.

The app's backend calls these with a ``write`` key on the user's behalf (reads: ``read``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from backbeat.server._deps import Admin, Reader, ServicesDep, Writer

__all__ = ["privacy_maintenance", "router"]

log = logging.getLogger("backbeat.server")
router = APIRouter(prefix="/v1/privacy", tags=["privacy"])
User = Annotated[str, Field(min_length=1, max_length=200, examples=["user-42"])]


class RequestIn(BaseModel):
    user: User
    type: Annotated[str, Field(max_length=24, examples=["access", "erasure"])]
    email: Annotated[str, Field(min_length=3, max_length=320, examples=["user@example.com"])]
    jurisdiction: Literal["gdpr", "ccpa"] = "gdpr"
    changes: dict[str, Any] | None = Field(None, description="Corrections (rectification)")


class VerifyIn(BaseModel):
    token: Annotated[str, Field(min_length=1, max_length=200)]


class ExtendIn(BaseModel):
    reason: Annotated[str, Field(min_length=1, max_length=200)]


class ConsentIn(BaseModel):
    purpose: Annotated[str, Field(min_length=1, max_length=100, examples=["personalization"])]
    status: Literal["given", "withdrawn"]
    lawful_basis: Literal[
        "consent",
        "contract",
        "legal_obligation",
        "vital_interests",
        "public_task",
        "legitimate_interests",
    ] = "consent"
    notice_version: Annotated[str, Field(min_length=1, max_length=50)] = "1"
    source: Annotated[str, Field(min_length=1, max_length=100)] = "api"


@router.post("/requests", status_code=202, summary="Open a data-subject request")
async def open_request(body: RequestIn, services: ServicesDep, _: Writer) -> JSONResponse:
    request = await services.toolkit.compliance.process_data_subject_request(
        user_id=body.user,
        request_type=body.type,
        verification_method="email_token",
        email=body.email,
        jurisdiction=body.jurisdiction,
        changes=body.changes,
    )
    shown = request.to_dict()
    return JSONResponse(
        {k: shown[k] for k in ("id", "type", "status", "received_at", "due_at")},
        status_code=202,
    )


@router.post("/requests/{request_id}/verify", summary="Confirm a request with its code")
async def verify_request(
    request_id: str, body: VerifyIn, services: ServicesDep, _: Writer
) -> dict[str, Any]:
    request = await services.toolkit.compliance.verify_request(request_id, body.token)
    result: dict[str, Any] = request.to_dict()
    return result


@router.get("/requests/{request_id}", summary="A request's status and deadline")
async def get_request(request_id: str, services: ServicesDep, _: Reader) -> dict[str, Any]:
    result: dict[str, Any] = (await services.toolkit.compliance.get_request(request_id)).to_dict()
    return result


@router.get(
    "/requests/{request_id}/export",
    summary="The ZIP of an access or portability request",
    response_class=FileResponse,
)
async def get_export(request_id: str, services: ServicesDep, _: Reader) -> Response:
    path = await services.toolkit.compliance.export_path(request_id)
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"privacy-export-{request_id}.zip",
        headers={"Cache-Control": "no-store"},
    )


@router.get("/requests", summary="Requests, or only the overdue or due-soon ones (admin)")
async def list_requests(
    services: ServicesDep,
    _: Admin,
    overdue: bool = False,
    due_within_days: Annotated[int | None, Query(ge=0, le=365)] = None,
) -> dict[str, Any]:
    within = dt.timedelta(days=due_within_days) if due_within_days is not None else None
    found = await services.toolkit.compliance.list_requests(overdue=overdue, due_within=within)
    return {"requests": [r.to_dict() for r in found]}


@router.post("/requests/{request_id}/extend", summary="Extend a request's deadline (admin)")
async def extend_request(
    request_id: str, body: ExtendIn, services: ServicesDep, _: Admin
) -> dict[str, Any]:
    request = await services.toolkit.compliance.extend_request(request_id, body.reason)
    result: dict[str, Any] = request.to_dict()
    return result


@router.get("/consents/{user}", summary="A user's consents by purpose")
async def get_consents(user: str, services: ServicesDep, _: Reader) -> dict[str, Any]:
    return {"user": user, "consents": await services.toolkit.compliance.consents(user)}


@router.put("/consents/{user}", summary="Give or withdraw consent for a purpose")
async def put_consent(
    user: str, body: ConsentIn, services: ServicesDep, _: Writer
) -> dict[str, Any]:
    state = await services.toolkit.compliance.set_consent(
        user,
        body.purpose,
        body.status,
        lawful_basis=body.lawful_basis,
        notice_version=body.notice_version,
        source=body.source,
    )
    return {"user": user, "consent": state}


@router.get("/records", summary="Records of processing activities, GDPR Art. 30 (admin)")
async def records(
    services: ServicesDep,
    _: Admin,
    output: Annotated[Literal["json", "markdown"], Query(alias="format")] = "json",
) -> Any:
    compliance = services.toolkit.compliance
    found = await compliance.records_of_processing()
    if output == "markdown":
        return PlainTextResponse(compliance.records_markdown(found), media_type="text/markdown")
    return found


async def privacy_maintenance(services: Any, metrics: Any, *, period_s: float = 300.0) -> None:
    """Keep the overdue/due-soon gauges current and, once the operator has declared
    retention periods (``BACKBEAT_RETENTION``), sweep retention once a day: deleting
    history is never a default the operator did not choose."""
    compliance = services.toolkit.compliance
    sweeping = bool(services.toolkit.settings.retention.strip())
    last_sweep: dt.datetime | None = None
    while True:
        try:
            overdue = await compliance.list_requests(overdue=True)
            soon = await compliance.list_requests(due_within=dt.timedelta(days=7))
            metrics.set_privacy_requests(overdue=len(overdue), due_soon=len(soon))
            now = dt.datetime.now(dt.UTC)
            if sweeping and (last_sweep is None or now - last_sweep >= dt.timedelta(days=1)):
                swept = await compliance.retention_sweep()
                last_sweep = now
                if any(swept.values()):
                    log.info("retention sweep deleted %s", swept)
        except Exception:  # a failed pass is logged and retried at the next period
            log.exception("privacy maintenance pass failed")
        await asyncio.sleep(period_s)
