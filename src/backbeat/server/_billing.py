"""``POST /v1/billing/events``: subscribe, renew, cancel, refund, with idempotency keys.

A payment provider's webhook bridge (or the host app's billing code) posts one event per
request with an ``Idempotency-Key`` header (or ``idempotency_key`` in the body): a retried
delivery gets the first answer again (``200``, ``Idempotent-Replayed: true``), a new event
``201``. Needs the ``billing`` scope (or ``admin``). The rows feed business analytics
(``/v1/analytics/*``, ``backbeat analytics ... --source database``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from backbeat.catalogue import BillingEvent
from backbeat.errors import BackbeatError, ValidationError
from backbeat.server._auth import Principal, require
from backbeat.server._context import record_write
from backbeat.server._deps import CatalogueDep

__all__ = ["BillingEventIn", "router"]

router = APIRouter(prefix="/v1/billing", tags=["billing"])
Biller = Annotated[Principal, Depends(require("billing"))]
_KEY = r"^[A-Za-z0-9._:-]{1,200}$"
_Money = Annotated[Decimal, Field(ge=0, le=Decimal("1e9"), max_digits=14, decimal_places=4)]


class BillingEventIn(BaseModel):
    type: Literal["subscribe", "renew", "cancel", "refund"]
    user: Annotated[str, Field(min_length=1, max_length=200, examples=["user-42"])]
    at: dt.datetime | None = Field(None, description="When it happened (default: now)")
    plan: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    price: _Money | None = Field(None, description="Per month (subscribe)")
    currency: Annotated[str | None, Field(pattern="^[A-Z]{3}$")] = None
    amount: _Money | None = Field(
        None, description="Charged (subscribe, renew: default the price) or refunded (refund)"
    )
    idempotency_key: Annotated[str | None, Field(pattern=_KEY)] = None

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "type": "subscribe",
                    "user": "user-42",
                    "plan": "premium",
                    "price": "9.99",
                    "currency": "EUR",
                    "at": "2026-11-24T20:15:00Z",
                }
            ]
        }
    }


@router.post(
    "/events",
    status_code=201,
    summary="Record a billing event (subscribe, renew, cancel, refund)",
    responses={
        200: {"description": "Already recorded under this idempotency key: the same answer"},
        201: {"description": "Recorded"},
        409: {"description": "Contradicts what is recorded, or a reused idempotency key"},
    },
)
async def post_billing_event(
    request: Request,
    body: BillingEventIn,
    catalogue: CatalogueDep,
    _: Biller,
    idempotency_key: Annotated[str | None, Header(pattern=_KEY)] = None,
) -> JSONResponse:
    key = idempotency_key or body.idempotency_key
    if key is None:
        raise ValidationError(
            "billing.idempotency_key_missing",
            details={"field": "Idempotency-Key"},
            message="A billing event needs an {field} header (or idempotency_key field).",
        )
    at = body.at or dt.datetime.now(dt.UTC)
    event = BillingEvent(
        type=body.type,
        user_id=body.user,
        at=(at if at.tzinfo else at.replace(tzinfo=dt.UTC)).timestamp(),
        plan=body.plan,
        price=body.price,
        currency=body.currency,
        amount=body.amount,
    )
    # no user ID in the audit trail: erasure could not reach it there
    details = {"type": body.type, "idempotency_key": key}
    try:
        outcome = await catalogue.billing.apply(key, event)
    except BackbeatError as exc:
        await record_write(request, "billing.event", "billing", details, error_code=exc.code)
        raise
    if outcome.replayed:
        return JSONResponse(outcome.result, headers={"Idempotent-Replayed": "true"})
    await record_write(request, "billing.event", "billing", details)
    return JSONResponse(outcome.result, status_code=201)
