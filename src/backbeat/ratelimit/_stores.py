"""Where limiter state lives: this process's memory, or Redis (atomic Lua scripts).

The Redis store decides every request in **one round trip**: one ``EVALSHA``
of a script that reads the state of every limit of the key, decides, and
writes only if allowed, atomically (Redis runs a script alone), with the
server's clock (``TIME``), so many processes on many machines share exact
limits without trusting their own clocks. State is kept in integer
microseconds in Redis (Lua numbers are doubles: exact up to 2**53 us, ~285
years) and every key expires when it no longer matters.

Keys are ``<prefix>{<key>}:<count>/<period>``: the braces put all limits of one
key in one Redis Cluster hash slot, as a multi-key script requires.
"""

from __future__ import annotations

import bisect
import functools
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from backbeat.errors import Unavailable
from backbeat.ratelimit._model import (
    _EPSILON,
    Decision,
    Limit,
    _check_cost,
    gcra_decide,
    window_decide,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["MemoryStore", "RateLimitStore", "RedisStore"]


@runtime_checkable
class RateLimitStore(Protocol):
    async def gcra(self, keys: Sequence[str], limits: Sequence[Limit], cost: int) -> Decision: ...

    async def sliding_window(
        self, keys: Sequence[str], limits: Sequence[Limit], cost: int
    ) -> Decision: ...

    async def reset(self, keys: Sequence[str]) -> None: ...


class MemoryStore:
    """Per-process state; exact for one process (one lock), lost on restart."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tats: dict[str, float] = {}
        self._logs: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._ops = 0
        self._longest_period = 0.0

    async def gcra(self, keys: Sequence[str], limits: Sequence[Limit], cost: int) -> Decision:
        return self.gcra_sync(keys, limits, cost)

    def gcra_sync(self, keys: Sequence[str], limits: Sequence[Limit], cost: int) -> Decision:
        if len(limits) == 1 and 1 <= cost <= limits[0].count:
            return self._gcra_one(keys[0], limits[0], cost)
        with self._lock:
            now = self._clock()
            new, decision = gcra_decide([self._tats.get(k) for k in keys], limits, now, cost)
            if new is not None:
                for k, tat in zip(keys, new, strict=True):
                    self._tats[k] = tat
            self._maybe_sweep(now)
        return decision

    def _gcra_one(self, key: str, lim: Limit, cost: int) -> Decision:
        # gcra_decide specialised to one limit: the hot path of most deployments.
        interval = lim.interval
        with self._lock:
            now = self._clock()
            tat = self._tats.get(key, now)
            if tat < now:
                tat = now
            new_tat = tat + cost * interval
            wait = new_tat - lim.period - now
            self._ops += 1
            if not self._ops % 10_000:
                self._sweep(now)
            if wait > _EPSILON:
                return Decision(False, lim, 0, tat - now, wait)
            self._tats[key] = new_tat
        remaining = int((lim.period - (new_tat - now)) / interval + 1e-9)
        return Decision(True, lim, remaining, new_tat - now, 0.0)

    async def sliding_window(
        self, keys: Sequence[str], limits: Sequence[Limit], cost: int
    ) -> Decision:
        _check_cost(limits, cost)
        with self._lock:
            now = self._clock()
            logs = []
            self._longest_period = max(self._longest_period, *(lim.period for lim in limits))
            for k, lim in zip(keys, limits, strict=True):
                log = self._logs.setdefault(k, [])
                del log[: bisect.bisect_right(log, now - lim.period)]
                logs.append(log)
            decision = window_decide(logs, limits, now, cost)
            if decision.allowed:
                for log in logs:
                    log.extend([now] * cost)
            self._maybe_sweep(now)
        return decision

    async def reset(self, keys: Sequence[str]) -> None:
        with self._lock:
            for k in keys:
                self._tats.pop(k, None)
                self._logs.pop(k, None)

    def _maybe_sweep(self, now: float) -> None:
        self._ops += 1
        if not self._ops % 10_000:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        # Amortised clean-up of keys whose state no longer matters (lock held).
        for k in [k for k, tat in self._tats.items() if tat <= now]:
            del self._tats[k]
        horizon = now - self._longest_period  # no window reaches further back
        for k in [k for k, log in self._logs.items() if not log or log[-1] <= horizon]:
            del self._logs[k]


_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1])
local n = #KEYS
local news = {}
local worst_wait, worst_i, worst_reset = -1, 0, 0
for i = 1, n do
  local period = tonumber(ARGV[2 * i])
  local count = tonumber(ARGV[2 * i + 1])
  local interval = period / count
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + cost * interval
  local allow_at = new_tat - period
  if allow_at - now > 0.001 and allow_at - now > worst_wait then
    worst_wait, worst_i, worst_reset = allow_at - now, i, tat - now
  end
  news[i] = new_tat
end
if worst_i > 0 then
  return {0, worst_i, 0, tostring(worst_reset), tostring(worst_wait)}
end
local best_i, best_rem, best_reset = 1, math.huge, 0
for i = 1, n do
  local period = tonumber(ARGV[2 * i])
  local count = tonumber(ARGV[2 * i + 1])
  local ttl = math.ceil((news[i] - now) / 1000)
  redis.call('SET', KEYS[i], string.format('%.17g', news[i]), 'PX', math.max(ttl, 1))
  local rem = math.floor((period - (news[i] - now)) / (period / count) + 1e-9)
  if rem < best_rem then best_i, best_rem, best_reset = i, rem, news[i] - now end
end
return {1, best_i, best_rem, tostring(best_reset), '0'}
"""

# The common case, one limit, without loops or tables: every microsecond of Lua
# is paid on each request. Returns integers only (cheaper replies to parse).
_GCRA_ONE_LUA = """
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local cost, period, count = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local interval = period / count
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + cost * interval
local wait = new_tat - period - now
if wait > 0.001 then return {0, 1, 0, math.floor(tat - now), math.ceil(wait)} end
redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, 1, math.floor((period - (new_tat - now)) / interval + 1e-9), math.ceil(new_tat - now), 0}
"""

_WINDOW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1])
local n = #KEYS
local counts = {}
local worst_wait, worst_i = -1, 0
for i = 1, n do
  local period = tonumber(ARGV[2 * i])
  local count = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - period)
  local c = redis.call('ZCARD', KEYS[i])
  counts[i] = c
  local excess = c + cost - count
  if excess > 0 then
    local oldest = redis.call('ZRANGE', KEYS[i], excess - 1, excess - 1, 'WITHSCORES')
    local wait = tonumber(oldest[2]) + period - now
    if wait > worst_wait then worst_wait, worst_i = wait, i end
  end
end
if worst_i > 0 then
  return {0, worst_i, 0, tostring(worst_wait), tostring(worst_wait)}
end
local seq = redis.call('INCRBY', KEYS[1] .. ':seq', cost)
redis.call('PEXPIRE', KEYS[1] .. ':seq', 86400000)
local best_i, best_rem = 1, math.huge
for i = 1, n do
  local period = tonumber(ARGV[2 * i])
  local count = tonumber(ARGV[2 * i + 1])
  for j = 1, cost do
    redis.call('ZADD', KEYS[i], now, string.format('%.0f-%d', now, seq - cost + j))
  end
  redis.call('PEXPIRE', KEYS[i], math.ceil(period / 1000))
  local rem = count - counts[i] - cost
  if rem < best_rem then best_i, best_rem = i, rem end
end
return {1, best_i, best_rem, tostring(tonumber(ARGV[2 * best_i])), '0'}
"""


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError, OSError)


class RedisStore:
    """Shared, exact limits across processes; one atomic script call per decision."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self._gcra = client.register_script(_GCRA_LUA)
        self._gcra_one = client.register_script(_GCRA_ONE_LUA)
        self._window = client.register_script(_WINDOW_LUA)
        self._errors = _redis_errors()

    @staticmethod
    @functools.lru_cache(maxsize=256)
    def _args(limits: tuple[Limit, ...], cost: int) -> list[int]:
        _check_cost(limits, cost)
        args = [cost]
        for lim in limits:
            args += [round(lim.period * 1_000_000), lim.count]
        return args

    async def _run(
        self, script: object, keys: Sequence[str], limits: Sequence[Limit], cost: int
    ) -> Decision:
        args = self._args(tuple(limits), cost)
        try:
            raw = await script(keys=keys, args=args)  # type: ignore[operator]
        except self._errors as e:
            raise Unavailable(
                "ratelimit.unavailable",
                details={"reason": type(e).__name__},
                message="The rate limiter's Redis is unreachable ({reason}).",
            ) from e
        allowed, index, remaining, reset_us, wait_us = raw
        return Decision(
            bool(allowed),
            limits[int(index) - 1],
            max(0, int(remaining)),
            float(reset_us) / 1e6,
            max(0.0, float(wait_us) / 1e6),
        )

    async def gcra(self, keys: Sequence[str], limits: Sequence[Limit], cost: int) -> Decision:
        script = self._gcra_one if len(limits) == 1 else self._gcra
        return await self._run(script, keys, limits, cost)

    async def sliding_window(
        self, keys: Sequence[str], limits: Sequence[Limit], cost: int
    ) -> Decision:
        return await self._run(self._window, keys, limits, cost)

    async def reset(self, keys: Sequence[str]) -> None:
        try:
            await self.client.delete(*keys, *(f"{k}:seq" for k in keys))
        except self._errors as e:
            raise Unavailable("ratelimit.unavailable", details={"reason": type(e).__name__}) from e
