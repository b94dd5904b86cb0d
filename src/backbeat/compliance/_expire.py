"""``auto_anonymize_expired_data``: listening events past a retention period lose their user.

- ``k_anonymity``: the expired events' users are ordered by how many expired events they
  have and cut into consecutive groups of at least ``k`` (5) users; every event's user
  becomes its group's label (``anon:<run>:<group>``). Each label stands for at least ``k``
  people, so no event can be tied to fewer than ``k`` users, and per-track counts, play
  times and activity levels stay usable for analytics.
- ``pseudonymize``: each user becomes a random pseudonym drawn for this run only (nothing
  kept that maps back).
- ``delete``: the events are removed.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from backbeat.compliance._policy import parse_duration
from backbeat.errors import ValidationError
from backbeat.storage import listening_events

__all__ = ["METHODS", "anonymize_expired_events"]

METHODS = ("k_anonymity", "pseudonymize", "delete")
K = 5


async def anonymize_expired_events(
    engine: AsyncEngine, retention_policy: str, method: str, *, now: dt.datetime, k: int = K
) -> dict[str, Any]:
    if method not in METHODS:
        raise ValidationError(
            "compliance.anonymization_method",
            details={"value": method[:40], "known": ", ".join(METHODS)},
            message="Unknown anonymisation method {value!r}: use {known}.",
        )
    cutoff = parse_duration(retention_policy).before(now)
    e = listening_events.c
    expired = (e.timestamp < cutoff.timestamp()) & ~e.user_id.like("anon:%")
    run = secrets.token_hex(4)
    async with engine.begin() as conn:
        if method == "delete":
            gone = await conn.execute(listening_events.delete().where(expired))
            return {"method": method, "cutoff": cutoff.isoformat(), "events": gone.rowcount}
        counts = (
            await conn.execute(
                sa.select(e.user_id, sa.func.count().label("n"))
                .where(expired)
                .group_by(e.user_id)
                .order_by(sa.func.count(), e.user_id)
            )
        ).all()
        if not counts:
            return {"method": method, "cutoff": cutoff.isoformat(), "events": 0, "users": 0}
        labels: dict[str, str] = {}
        if method == "pseudonymize":
            labels = {u: f"anon:{secrets.token_hex(8)}" for u, _ in counts}
        else:
            groups = max(1, len(counts) // k)  # the last group takes the remainder
            for i, (user, _) in enumerate(counts):
                labels[user] = f"anon:{run}:{min(i // k, groups - 1)}"
        events = 0
        for user, label in labels.items():
            done = await conn.execute(
                listening_events.update().where(expired, e.user_id == user).values(user_id=label)
            )
            events += int(done.rowcount or 0)
    result: dict[str, Any] = {
        "method": method,
        "cutoff": cutoff.isoformat(),
        "events": events,
        "users": len(labels),
    }
    if method == "k_anonymity":
        result["k"] = k if len(labels) >= k else len(labels)
        result["groups"] = len(set(labels.values()))
    return result
