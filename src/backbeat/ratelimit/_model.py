"""Limits, decisions, and the two algorithms as pure functions on plain numbers.

**GCRA** (Generic Cell Rate Algorithm, ITU-T I.371; the token bucket seen from
the other side): one number per key, the *theoretical arrival time* ``tat``.
With emission interval ``T = period / count``, a request of cost ``c`` at time
``now`` is allowed when ``max(tat, now) + c*T - period <= now``; the new ``tat``
is then ``max(tat, now) + c*T``. This admits bursts of up to ``count`` and a
sustained rate of ``count / period``, in O(1) memory per key.

**Sliding-window log**: the timestamps of the requests in the last ``period``;
allowed when their number plus ``c`` stays within ``count``. Exact over any
window, at O(count) memory per key.

Several limits on one key (10/s *and* 1000/h) are decided together: a request
is allowed only if every limit allows it, and only then does any state change,
so a request refused by the hourly limit does not use up the per-second one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from backbeat.errors import RateLimited, ValidationError

__all__ = ["Decision", "Limit", "gcra_decide", "window_decide"]

_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}
# Sums of fractional intervals drift by a few ulps; a nanosecond absorbs that.
_EPSILON = 1e-9
_SPEC = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*$", re.I)


@dataclass(frozen=True, slots=True)
class Limit:
    """``count`` requests per ``period`` seconds.

    ``Limit.parse`` reads ``"10/s"``, ``"1000 per hour"``, ``"5/10m"``.
    """

    count: int
    period: float

    def __post_init__(self) -> None:
        if self.count < 1 or self.period <= 0:
            raise ValidationError(
                "validation.rate_limit",
                details={"count": self.count, "period": self.period},
                message="A limit needs a positive count and period (got {count}/{period}s).",
            )

    @classmethod
    def parse(cls, spec: str | Limit) -> Limit:
        if isinstance(spec, Limit):
            return spec
        m = _SPEC.match(spec) if isinstance(spec, str) else None
        unit = _UNITS.get(m.group(3).lower()) if m else None
        if m is None or unit is None:
            raise ValidationError(
                "validation.rate_limit",
                details={"spec": str(spec)},
                message="Cannot read the limit {spec!r}; write it like '10/s' or '1000 per hour'.",
            )
        return cls(int(m.group(1)), float(m.group(2) or 1) * unit)

    @property
    def interval(self) -> float:
        """Seconds between requests at the sustained rate (GCRA's emission interval)."""
        return self.period / self.count

    def __str__(self) -> str:
        return f"{self.count};w={self.period:g}"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one ``hit``.

    ``remaining``: requests still allowed now under the tightest limit;
    ``reset_after``: seconds until that limit is fully replenished;
    ``retry_after``: seconds to wait before retrying (0 when allowed).
    """

    allowed: bool
    limit: Limit
    remaining: int
    reset_after: float
    retry_after: float

    def raise_for_limit(self) -> None:
        """Raise :class:`~backbeat.errors.RateLimited` when refused."""
        if not self.allowed:
            raise RateLimited(retry_after=self.retry_after)


def _check_cost(limits: Sequence[Limit], cost: int) -> None:
    if cost < 1 or any(cost > lim.count for lim in limits):
        raise ValidationError(
            "validation.rate_cost",
            details={"cost": cost},
            message="A cost of {cost} can never fit these limits.",
        )


def gcra_decide(
    tats: Sequence[float | None], limits: Sequence[Limit], now: float, cost: int = 1
) -> tuple[list[float] | None, Decision]:
    """Decide one request; returns (new tats to store, or ``None`` if refused; decision)."""
    _check_cost(limits, cost)
    new_tats: list[float] = []
    refused: list[tuple[float, Limit, float]] = []
    for tat, lim in zip(tats, limits, strict=True):
        base = max(tat if tat is not None else now, now)
        new_tat = base + cost * lim.interval
        allow_at = new_tat - lim.period
        if allow_at - now > _EPSILON:
            refused.append((allow_at - now, lim, base - now))
        new_tats.append(new_tat)
    if refused:
        wait, lim, reset = max(refused, key=lambda r: r[0])
        return None, Decision(False, lim, 0, reset, wait)
    best: Decision | None = None
    for new_tat, lim in zip(new_tats, limits, strict=True):
        remaining = math.floor((lim.period - (new_tat - now)) / lim.interval + 1e-9)
        d = Decision(True, lim, max(0, remaining), new_tat - now, 0.0)
        if best is None or d.remaining < best.remaining:
            best = d
    assert best is not None
    return new_tats, best


def window_decide(
    logs: Sequence[Sequence[float]], limits: Sequence[Limit], now: float, cost: int = 1
) -> Decision:
    """Decide on sliding-window logs (each sorted, already trimmed to its window)."""
    _check_cost(limits, cost)
    refused: list[tuple[float, Limit]] = []
    best: Decision | None = None
    for log, lim in zip(logs, limits, strict=True):
        excess = len(log) + cost - lim.count
        if excess > 0:
            # The request fits once the `excess` oldest entries have left the window.
            refused.append((log[excess - 1] + lim.period - now, lim))
            continue
        # The request just logged leaves the window last: full capacity in one period.
        d = Decision(True, lim, lim.count - len(log) - cost, lim.period, 0.0)
        if best is None or d.remaining < best.remaining:
            best = d
    if refused:
        wait, lim = max(refused, key=lambda r: r[0])
        return Decision(False, lim, 0, wait, max(0.0, wait))
    assert best is not None
    return best
