"""``TieredCache``: an in-process L1 in front of a shared Redis L2, kept coherent.

Reads try L1, then L2 (filling L1 with the L2 entry's *remaining* lifetime, so
an L1 copy never outlives its original). Writes go to L2 then L1.

**Coherence across processes.** Every write, delete, tag invalidation and
prefix clear publishes a small message on ``<prefix>__invalidate__`` (in the
same round trip as the write where possible); every ``TieredCache`` on that
prefix subscribes and drops the named keys, tags or prefixes from its own L1.
Redis pub/sub is fire-and-forget, so a subscriber that lost its connection
clears its whole L1 when it resubscribes: it may have missed messages.
Propagation takes one Redis hop (``benchmarks/bench_cache.py`` measures it).

**Degradation.** When Redis fails, the cache logs one warning, reports
``state == "degraded"``, keeps answering from L1 (misses fall through to the
caller's loader) and writes to L1 only; every ``retry_interval`` seconds one
call tries Redis again. On recovery it logs once, clears L1 (invalidations may
have been missed) and goes back to ``"healthy"``. Counters (:meth:`incr`) are
kept in L1 during an outage: they count locally until Redis returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Literal, TypeVar

import msgpack

from backbeat.cache._memory import MemoryCache
from backbeat.cache._protocol import CacheStats, normalize_key
from backbeat.cache._redis import Entry, RedisCache
from backbeat.errors import Unavailable

__all__ = ["TieredCache"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_SKIPPED: Any = object()


class TieredCache:
    """L1 (:class:`MemoryCache`) + L2 (:class:`RedisCache`), coherent across processes.

    Parameters
    ----------
    l1, l2:
        The two levels. ``l1`` is private to this object; ``l2`` may be shared.
    l1_ttl:
        Optional cap, in seconds, on how long L1 keeps a copy.
    retry_interval:
        Seconds between attempts to reach Redis while degraded.
    coherent:
        Publish and subscribe to invalidations (default ``True``).

    Use ``async with TieredCache(...) as cache`` or call :meth:`start` to wait for
    the invalidation subscription; otherwise it starts on first use.
    """

    def __init__(
        self,
        l1: MemoryCache,
        l2: RedisCache,
        *,
        l1_ttl: float | None = None,
        retry_interval: float = 1.0,
        coherent: bool = True,
    ) -> None:
        self.l1 = l1
        self.l2 = l2
        self.l1_ttl = l1_ttl
        self.retry_interval = retry_interval
        self.coherent = coherent
        self.default_ttl = l2.default_ttl
        self.channel = f"{l2.prefix}__invalidate__"
        self.origin = secrets.token_hex(8)
        self.invalidations_received = 0
        self._epoch = 0  # bumped by every invalidation applied to L1
        self._state: Literal["healthy", "degraded"] = "healthy"
        self._retry_at = 0.0
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._closing = False

    # -- state ---------------------------------------------------------------------

    @property
    def state(self) -> Literal["healthy", "degraded"]:
        """``"degraded"`` while Redis is unreachable and only L1 serves."""
        return self._state

    @property
    def stats(self) -> dict[str, CacheStats]:
        return {"l1": self.l1.stats, "l2": self.l2.stats}

    async def _l2(self, op: Callable[[], Awaitable[T]]) -> T:
        """Run an L2 operation unless degraded; ``_SKIPPED`` when Redis cannot serve."""
        if self._state == "degraded" and time.monotonic() < self._retry_at:
            return _SKIPPED  # type: ignore[no-any-return]
        try:
            result = await op()
        except Unavailable:
            if self._state == "healthy":
                log.warning(
                    "cache: Redis unreachable; serving from L1 only, retrying every %ss",
                    self.retry_interval,
                )
            self._state = "degraded"
            self._retry_at = time.monotonic() + self.retry_interval
            return _SKIPPED  # type: ignore[no-any-return]
        if self._state == "degraded":
            log.warning("cache: Redis reachable again; L1 cleared")
            self._state = "healthy"
            self._epoch += 1
            self.l1.clear()
        return result

    # -- reads ----------------------------------------------------------------------

    def _l1_ttl(self, expires_at_ms: int | None) -> float:
        remaining = float("inf")
        if expires_at_ms is not None:
            remaining = expires_at_ms / 1000 - time.time()
        if self.l1_ttl is not None:
            remaining = min(remaining, self.l1_ttl)
        return 0.0 if remaining == float("inf") else remaining

    def peek(self, key: str) -> Any:
        """L1 only, synchronously (``None`` if not there); ``@cached``'s fast path."""
        return self.l1.get_sync(key)

    async def get(self, key: str) -> Any:
        self._ensure_listener()
        value = self.l1.get_sync(key)
        if value is not None:
            return value
        epoch = self._epoch
        entry = await self._l2(lambda: self.l2.get_entry(key))
        if entry is _SKIPPED or entry is None:
            return None
        self._fill_l1(key, entry, epoch)
        return entry.value

    def _fill_l1(self, key: str, entry: Entry, epoch: int) -> None:
        # An invalidation that arrived while we read L2 may concern this very
        # value: then it is not copied into L1 (the next read goes to L2 again).
        if epoch != self._epoch:
            return
        ttl = self._l1_ttl(entry.expires_at_ms)
        if entry.expires_at_ms is None or ttl > 0:
            # The stored size stands in for the deep-size estimate: cheaper, and close.
            self.l1.set_sync(key, entry.value, ttl=ttl, size=entry.size)

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        self._ensure_listener()
        wanted = list(keys)
        found: dict[str, Any] = {}
        missing = []
        for k in wanted:
            value = self.l1.get_sync(k)
            if value is None:
                missing.append(k)
            else:
                found[k] = value
        if missing:
            epoch = self._epoch
            entries = await self._l2(lambda: self.l2.get_many_entries(missing))
            if entries is not _SKIPPED:
                for k, entry in entries.items():
                    self._fill_l1(k, entry, epoch)
                    found[k] = entry.value
        return found

    # -- writes ---------------------------------------------------------------------

    def _message(self, **fields: list[str]) -> tuple[str, bytes] | None:
        if not self.coherent:
            return None
        return self.channel, msgpack.packb({"o": self.origin, **fields})

    def _l1_ttl_for_write(self, ttl: float | None) -> float | None:
        seconds = self.default_ttl if ttl is None else ttl
        if self.l1_ttl is not None:
            return self.l1_ttl if not seconds else min(seconds, self.l1_ttl)
        return seconds

    async def set(
        self, key: str, value: Any, *, ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        await self.set_many({key: value}, ttl=ttl, tags=tags)

    async def set_many(
        self, items: Mapping[str, Any], *, ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        self._ensure_listener()
        tag_tuple = tuple(tags)
        keys = [normalize_key(k) for k in items]
        await self._l2(
            lambda: self.l2.set_many(items, ttl=ttl, tags=tag_tuple, publish=self._message(k=keys))
        )
        l1_ttl = self._l1_ttl_for_write(ttl)
        for key, value in items.items():
            self.l1.set_sync(key, value, ttl=l1_ttl, tags=tag_tuple)

    async def delete(self, key: str) -> bool:
        return await self.delete_many([key]) > 0

    async def delete_many(self, keys: Iterable[str]) -> int:
        self._ensure_listener()
        wanted = [normalize_key(k) for k in keys]
        local = sum(self.l1.delete_sync(k) for k in wanted)
        removed = await self._l2(
            lambda: self.l2.delete_many(wanted, publish=self._message(k=wanted))
        )
        return local if removed is _SKIPPED else max(removed, local)

    async def invalidate_tags(self, tags: Iterable[str]) -> int:
        self._ensure_listener()
        tag_list = list(tags)
        local = self.l1.invalidate_tags_sync(tag_list)
        removed = await self._l2(lambda: self.l2.invalidate_tags(tag_list))
        await self._publish(t=tag_list)
        return local if removed is _SKIPPED else max(removed, local)

    async def clear_prefix(self, prefix: str) -> int:
        self._ensure_listener()
        local = self.l1.clear_prefix_sync(prefix)
        removed = await self._l2(lambda: self.l2.clear_prefix(prefix))
        await self._publish(p=[prefix])
        return local if removed is _SKIPPED else max(removed, local)

    async def incr(self, key: str, delta: int = 1, *, ttl: float | None = None) -> int:
        result = await self._l2(lambda: self.l2.incr(key, delta, ttl=ttl))
        if result is _SKIPPED:
            return self.l1.incr_sync(key, delta, ttl=ttl)
        return int(result)

    async def _publish(self, **fields: list[str]) -> None:
        message = self._message(**fields)
        if message is not None:
            await self._l2(lambda: self.l2.client.publish(*message))

    # -- stampede lock (delegated to L2 while it is reachable) -------------------------

    async def acquire_lock(self, key: str, *, timeout: float) -> str | None:
        token = await self._l2(lambda: self.l2.acquire_lock(key, timeout=timeout))
        return "" if token is _SKIPPED else token  # "" = no distributed lock: go ahead

    async def release_lock(self, key: str, token: str) -> bool:
        if not token:
            return False
        released = await self._l2(lambda: self.l2.release_lock(key, token))
        return False if released is _SKIPPED else bool(released)

    async def lock_held(self, key: str) -> bool:
        held = await self._l2(lambda: self.l2.lock_held(key))
        return False if held is _SKIPPED else bool(held)

    # -- invalidation listener ------------------------------------------------------------

    async def start(self, timeout: float = 5.0) -> None:
        """Start listening for invalidations and wait (up to ``timeout``) until subscribed."""
        self._ensure_listener()
        if self.coherent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._subscribed.wait(), timeout)

    async def __aenter__(self) -> TieredCache:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _ensure_listener(self) -> None:
        if self.coherent and self._listener is None and not self._closing:
            self._listener = asyncio.get_running_loop().create_task(
                self._listen(), name=f"backbeat-cache-invalidations-{self.origin}"
            )

    async def _listen(self) -> None:
        backoff = 0.05
        lost = False
        while not self._closing:
            pubsub = self.l2.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                if lost:
                    self._epoch += 1
                    self.l1.clear()  # messages may have been missed while away
                    lost = False
                self._subscribed.set()
                backoff = 0.05
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._apply(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as e:  # connection lost: resubscribe with backoff
                if not lost:
                    log.debug("cache: invalidation listener lost (%s)", type(e).__name__)
                lost = True
                self._subscribed.clear()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, max(self.retry_interval, 0.05))
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _apply(self, data: bytes) -> None:
        try:
            message = msgpack.unpackb(data, raw=False)
            if not isinstance(message, dict) or message.get("o") == self.origin:
                return
            self._epoch += 1
            for k in message.get("k", ()):
                self.l1.delete_sync(k)
            if message.get("t"):
                self.l1.invalidate_tags_sync(message["t"])
            for p in message.get("p", ()):
                self.l1.clear_prefix_sync(p)
            self.invalidations_received += 1
        except Exception as e:  # a malformed message must not kill the listener
            log.warning("cache: ignoring malformed invalidation (%s)", type(e).__name__)

    async def close(self) -> None:
        self._closing = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        self.l1.clear()
        await self.l2.close()
