"""Billing events -> subscriptions and payments, idempotently (``POST /v1/billing/events``).

Four event types, as a payment provider's webhooks report them:

- ``subscribe``: a subscription to ``plan`` at ``price`` per month starts ``at``; a first
  charge of ``amount`` (default ``price``; 0 for a free trial) is recorded. Subscribing
  while another plan is active is a plan change: the active one ends at the same instant,
  so MRR shows expansion or contraction rather than churn and a new subscriber.
- ``renew``: a charge for the active subscription (``amount`` default: its price).
- ``cancel``: the active subscription ends ``at``.
- ``refund``: a refund of ``amount``, at most what the user was charged and not yet refunded.

Every event carries an idempotency key. The key is written first in the event's
transaction, so two concurrent deliveries of one event serialise on it: the second is
answered with the first one's result (``replayed``); the same key with a different request
is refused (``billing.idempotency_conflict``). One currency per database: analytics cannot
add amounts in different currencies without rates, so a second currency is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from backbeat.errors import BackbeatError, ValidationError
from backbeat.storage import billing_events, payments, subscriptions

__all__ = [
    "EVENT_TYPES",
    "BillingConflict",
    "BillingEvent",
    "BillingOutcome",
    "BillingRepository",
]

EVENT_TYPES = ("subscribe", "renew", "cancel", "refund")
_CENT = Decimal("0.0001")


class BillingConflict(BackbeatError):
    """The event contradicts what is recorded (HTTP 409)."""

    default_code = "billing.conflict"
    default_message = "The billing event conflicts with what is recorded."
    http_status: ClassVar[int] = 409


@dataclass(frozen=True, slots=True)
class BillingEvent:
    """One event; ``at`` in epoch seconds (UTC); amounts in ``currency``'s unit."""

    type: str
    user_id: str
    at: float
    plan: str | None = None
    price: Decimal | None = None
    currency: str | None = None
    amount: Decimal | None = None

    def digest(self) -> str:
        """What identifies the request behind an idempotency key."""
        body = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items()}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class BillingOutcome:
    result: dict[str, Any]
    replayed: bool


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat().replace("+00:00", "Z")


def _money(value: Any) -> str:
    return str(Decimal(str(value)).quantize(_CENT).normalize())


def _invalid(field: str, message: str, **details: Any) -> ValidationError:
    return ValidationError("billing.invalid", details={"field": field, **details}, message=message)


class BillingRepository:
    """Subscriptions and payments as billing events leave them."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def apply(self, key: str, event: BillingEvent) -> BillingOutcome:
        """Record ``event`` under idempotency ``key`` (or replay what ``key`` recorded)."""
        if event.type not in EVENT_TYPES:
            raise ValidationError(
                "billing.invalid_type",
                details={"field": "type", "value": event.type[:40]},
                message="{field} {value!r} is not subscribe, renew, cancel or refund.",
            )
        digest = event.digest()
        for _ in range(3):
            try:
                async with self.engine.begin() as conn:
                    previous = await self._previous(conn, key, digest)
                    if previous is not None:
                        return BillingOutcome(previous, True)
                    await conn.execute(
                        billing_events.insert().values(
                            idempotency_key=key,
                            event_type=event.type,
                            user_id=event.user_id,
                            digest=digest,
                            received_at=dt.datetime.now(dt.UTC).timestamp(),
                            result="{}",
                        )
                    )
                    result = await self._effect(conn, event)
                    result = {"idempotency_key": key, "type": event.type, **result}
                    await conn.execute(
                        billing_events.update()
                        .where(billing_events.c.idempotency_key == key)
                        .values(result=json.dumps(result, sort_keys=True))
                    )
                    return BillingOutcome(result, False)
            except IntegrityError:
                continue  # a concurrent delivery of the same key won: read its answer
        raise BillingConflict(  # pragma: no cover - three lost races in a row
            "billing.busy",
            details={"idempotency_key": key},
            message="Billing event {idempotency_key} is being recorded; retry it.",
        )

    async def _previous(
        self, conn: AsyncConnection, key: str, digest: str
    ) -> dict[str, Any] | None:
        row = (
            await conn.execute(
                sa.select(billing_events.c.digest, billing_events.c.result).where(
                    billing_events.c.idempotency_key == key
                )
            )
        ).first()
        if row is None:
            return None
        if row.digest != digest:
            raise BillingConflict(
                "billing.idempotency_conflict",
                details={"idempotency_key": key},
                message=(
                    "Idempotency key {idempotency_key} was already used for a different "
                    "billing event; use a new key for a new event."
                ),
            )
        result: dict[str, Any] = json.loads(row.result)
        return result

    async def _active(self, conn: AsyncConnection, user_id: str) -> Any:
        s = subscriptions.c
        return (
            await conn.execute(
                sa.select(subscriptions)
                .where(s.user_id == user_id, s.ended_at.is_(None))
                .order_by(s.started_at.desc())
                .limit(1)
            )
        ).first()

    async def _check_currency(self, conn: AsyncConnection, currency: str) -> None:
        known = (
            await conn.execute(
                sa.union(
                    sa.select(subscriptions.c.currency).distinct(),
                    sa.select(payments.c.currency).distinct(),
                )
            )
        ).scalars()
        other = sorted({c for c in known if c != currency})
        if other:
            raise BillingConflict(
                "billing.currency_mixed",
                details={"currency": currency, "recorded": ", ".join(other)},
                message=(
                    "Currency {currency} differs from the recorded {recorded}: amounts in "
                    "different currencies cannot be added without rates."
                ),
            )

    @staticmethod
    def _no_active(event: BillingEvent) -> BillingConflict:
        return BillingConflict(
            "billing.no_active_subscription",
            details={"user_id": event.user_id, "type": event.type},
            message="User {user_id} has no active subscription to {type}.",
        )

    @staticmethod
    def _before_start(event: BillingEvent, active: Any) -> BillingConflict:
        return BillingConflict(
            "billing.out_of_order",
            details={"at": _iso(event.at), "started_at": _iso(active.started_at)},
            message="The event at {at} is before the subscription's start, {started_at}.",
        )

    async def _charge(
        self,
        conn: AsyncConnection,
        user_id: str,
        amount: Decimal,
        currency: str,
        at: float,
        kind: str,
        subscription_id: int | None,
    ) -> dict[str, Any]:
        inserted = await conn.execute(
            payments.insert()
            .values(
                user_id=user_id,
                amount=amount,
                currency=currency,
                paid_at=at,
                kind=kind,
                subscription_id=subscription_id,
            )
            .returning(payments.c.id)
        )
        return {
            "id": int(inserted.scalar_one()),
            "kind": kind,
            "amount": _money(amount),
            "currency": currency,
            "paid_at": _iso(at),
        }

    async def _effect(self, conn: AsyncConnection, event: BillingEvent) -> dict[str, Any]:
        active = await self._active(conn, event.user_id)
        if event.type == "subscribe":
            if not event.plan or event.price is None or not event.currency:
                raise ValidationError(
                    "billing.subscribe_fields",
                    details={"fields": "plan, price, currency"},
                    message="A subscribe event needs {fields}.",
                )
            await self._check_currency(conn, event.currency)
            ended = None
            if active is not None:
                same = active.plan == event.plan and Decimal(str(active.price)) == event.price
                if same:
                    raise BillingConflict(
                        "billing.already_subscribed",
                        details={"user_id": event.user_id, "plan": event.plan},
                        message="User {user_id} already subscribes to {plan} at this price.",
                    )
                if event.at < active.started_at:
                    raise self._before_start(event, active)
                await conn.execute(
                    subscriptions.update()
                    .where(subscriptions.c.id == active.id)
                    .values(ended_at=event.at)
                )
                ended = int(active.id)
            inserted = await conn.execute(
                subscriptions.insert()
                .values(
                    user_id=event.user_id,
                    plan=event.plan,
                    price=event.price,
                    currency=event.currency,
                    started_at=event.at,
                )
                .returning(subscriptions.c.id)
            )
            sub_id = int(inserted.scalar_one())
            amount = event.price if event.amount is None else event.amount
            result: dict[str, Any] = {
                "subscription": {
                    "id": sub_id,
                    "user_id": event.user_id,
                    "plan": event.plan,
                    "price": _money(event.price),
                    "currency": event.currency,
                    "started_at": _iso(event.at),
                    "ended_at": None,
                },
                "ended_subscription": ended,
                "payment": None,
            }
            if amount > 0:
                result["payment"] = await self._charge(
                    conn, event.user_id, amount, event.currency, event.at, "charge", sub_id
                )
            return result
        if event.type in ("renew", "cancel") and active is None:
            raise self._no_active(event)
        if event.type == "renew":
            currency = str(active.currency)
            if event.currency and event.currency != currency:
                raise ValidationError(
                    "billing.renew_currency",
                    details={"field": "currency", "expected": currency},
                    message="A renewal's {field} must be the subscription's, {expected}.",
                )
            if event.at < active.started_at:
                raise self._before_start(event, active)
            amount = Decimal(str(active.price)) if event.amount is None else event.amount
            payment = await self._charge(
                conn, event.user_id, amount, currency, event.at, "charge", int(active.id)
            )
            return {"subscription": {"id": int(active.id)}, "payment": payment}
        if event.type == "cancel":
            if event.at < active.started_at:
                raise self._before_start(event, active)
            await conn.execute(
                subscriptions.update()
                .where(subscriptions.c.id == active.id)
                .values(ended_at=event.at)
            )
            return {"subscription": {"id": int(active.id), "ended_at": _iso(event.at)}}
        # refund
        if event.amount is None or event.amount <= 0 or not event.currency:
            raise ValidationError(
                "billing.refund_fields",
                details={"fields": "amount, currency"},
                message="A refund needs a positive amount and its currency ({fields}).",
            )
        await self._check_currency(conn, event.currency)
        p = payments.c
        signed = sa.case((p.kind == "refund", -p.amount), else_=p.amount)
        balance = (
            await conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(signed), 0)).where(
                    p.user_id == event.user_id
                )
            )
        ).scalar_one()
        refundable = Decimal(str(balance))
        if event.amount > refundable:
            raise BillingConflict(
                "billing.refund_exceeds",
                details={
                    "user_id": event.user_id,
                    "amount": _money(event.amount),
                    "refundable": _money(refundable),
                },
                message=(
                    "A refund of {amount} exceeds the {refundable} charged to user {user_id} "
                    "and not yet refunded."
                ),
            )
        refunded_sub = int(active.id) if active is not None else None
        payment = await self._charge(
            conn, event.user_id, event.amount, event.currency, event.at, "refund", refunded_sub
        )
        return {"payment": payment}

    async def import_rows(
        self, subs: list[dict[str, Any]], pays: list[dict[str, Any]], *, chunk: int = 20_000
    ) -> tuple[int, int]:
        """Add subscriptions and payments from files (``backbeat analytics import``), in one
        transaction: times in epoch seconds, amounts as :class:`~decimal.Decimal`. Refused
        whole when its currency differs from what is recorded."""
        currencies = sorted({str(r["currency"]) for r in (*subs, *pays)})
        async with self.engine.begin() as conn:
            if len(currencies) > 1:
                await self._check_currency(conn, "/".join(currencies))
            if currencies:
                await self._check_currency(conn, currencies[0])
            for table, rows in ((subscriptions, subs), (payments, pays)):
                for start in range(0, len(rows), chunk):
                    await conn.execute(table.insert(), rows[start : start + chunk])
        return len(subs), len(pays)

    async def counts(self) -> dict[str, int]:
        """How many subscriptions (active and all) and payments are recorded."""
        async with self.engine.connect() as conn:
            subs = await conn.execute(sa.select(sa.func.count()).select_from(subscriptions))
            active = await conn.execute(
                sa.select(sa.func.count())
                .select_from(subscriptions)
                .where(subscriptions.c.ended_at.is_(None))
            )
            pays = await conn.execute(sa.select(sa.func.count()).select_from(payments))
            return {
                "subscriptions": int(subs.scalar_one()),
                "active_subscriptions": int(active.scalar_one()),
                "payments": int(pays.scalar_one()),
            }
