"""``RateLimiter``: one or more limits on a key, on a memory or Redis store."""

from __future__ import annotations

import logging
from typing import Literal

from backbeat.errors import Unavailable, ValidationError
from backbeat.ratelimit._model import Decision, Limit
from backbeat.ratelimit._stores import MemoryStore, RateLimitStore

__all__ = ["RateLimiter"]

log = logging.getLogger(__name__)

Algorithm = Literal["gcra", "sliding_window"]


class RateLimiter:
    """Decide whether a key may make a request now.

    >>> limiter = RateLimiter("10/s", "1000/h")            # memory store
    >>> decision = await limiter.hit("api-key:abc")
    >>> decision.allowed, decision.remaining, decision.retry_after

    Parameters
    ----------
    limits:
        ``Limit`` objects or strings like ``"10/s"``; all must allow a request.
    store:
        :class:`MemoryStore` (default, per process) or :class:`RedisStore` (shared).
    algorithm:
        ``"gcra"`` (O(1) state, bursts up to ``count``) or ``"sliding_window"``
        (exact request log).
    prefix:
        Namespaces this limiter's keys (two limiters on one store stay apart).
    fail_open:
        When the store is unreachable: ``True`` allows requests (logged once per
        outage), ``False`` raises :class:`~backbeat.errors.Unavailable`.
    """

    def __init__(
        self,
        *limits: Limit | str,
        store: RateLimitStore | None = None,
        algorithm: Algorithm = "gcra",
        prefix: str = "backbeat:rl:",
        fail_open: bool = False,
    ) -> None:
        if not limits:
            raise ValidationError("validation.rate_limit", message="Give at least one limit.")
        if algorithm not in ("gcra", "sliding_window"):
            raise ValidationError(
                "validation.rate_algorithm",
                details={"algorithm": str(algorithm)},
                message="Unknown algorithm {algorithm!r}; use gcra or sliding_window.",
            )
        self.limits = tuple(Limit.parse(x) for x in limits)
        self.store: RateLimitStore = store if store is not None else MemoryStore()
        self.algorithm = algorithm
        self.prefix = prefix
        self.fail_open = fail_open
        self._outage = False
        tag = "g" if algorithm == "gcra" else "w"
        self._suffixes = [f":{tag}:{lim.count}/{lim.period:g}" for lim in self.limits]

    def keys_for(self, key: str) -> list[str]:
        head = f"{self.prefix}{{{key}}}"
        return [head + suffix for suffix in self._suffixes]

    async def hit(self, key: str, cost: int = 1) -> Decision:
        """Count a request of ``cost`` against ``key`` if every limit allows it."""
        keys = self.keys_for(key)
        try:
            if self.algorithm == "gcra":
                decision = await self.store.gcra(keys, self.limits, cost)
            else:
                decision = await self.store.sliding_window(keys, self.limits, cost)
        except Unavailable:
            if not self.fail_open:
                raise
            if not self._outage:
                log.warning("rate limiter store unreachable: failing open (allowing requests)")
                self._outage = True
            tightest = min(self.limits, key=lambda lim: lim.count)
            return Decision(True, tightest, tightest.count, 0.0, 0.0)
        if self._outage:
            log.warning("rate limiter store reachable again")
            self._outage = False
        return decision

    async def reset(self, key: str) -> None:
        """Forget ``key``'s history (e.g. after a successful login)."""
        await self.store.reset(self.keys_for(key))
