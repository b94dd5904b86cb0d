"""``GET /health``: the state of every configured backend.

200 with ``"status": "ok"`` when every backend answers, 503 with
``"status": "degraded"`` otherwise, so load balancers can act on the code alone.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backbeat.toolkit import Toolkit

router = APIRouter(tags=["operations"])


@router.get(
    "/health",
    summary="Health of the service and its backends",
    responses={503: {"description": "At least one configured backend is down"}},
)
async def health(request: Request) -> JSONResponse:
    toolkit: Toolkit = request.app.state.toolkit
    report = await toolkit.health()
    body: dict[str, Any] = report.to_dict()
    return JSONResponse(body, status_code=200 if report.status == "ok" else 503)
