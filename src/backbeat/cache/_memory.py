"""``MemoryCache``: the in-process L1, bounded by entries and by bytes.

An ``OrderedDict`` kept in recency order gives O(1) get/set/delete and O(1)
least-recently-used eviction. Expiry is lazy (an expired entry is dropped when
it is read, or when it reaches the LRU end) so no timer thread is needed; an
expired entry still counts towards the bounds until then. ``clear_prefix`` is
O(n) in the number of entries.

Values are stored as the objects you give, not copies: a hit costs a dict
lookup, which is the point of an L1. Treat cached values as immutable (mutating
one mutates what every later hit sees). The byte bound uses an estimate of each
value's deep size (``sys.getsizeof`` over containers, ``nbytes`` for numpy
arrays), or your own ``sizer``.

Thread-safe (one lock, held only for dictionary operations), so the synchronous
``*_sync`` methods used by ``@cached`` on plain functions can run in worker
threads beside the async API.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from backbeat.cache._protocol import CacheStats, normalize_key
from backbeat.errors import CacheError, ValidationError

__all__ = ["MemoryCache", "estimate_size"]


def estimate_size(value: Any, _depth: int = 0) -> int:
    """Approximate deep size of ``value`` in bytes (containers walked 8 levels deep)."""
    size = sys.getsizeof(value)
    if _depth >= 8:
        return size
    if isinstance(value, str | bytes | bytearray | int | float | bool) or value is None:
        return size
    if isinstance(value, Mapping):
        return size + sum(
            estimate_size(k, _depth + 1) + estimate_size(v, _depth + 1) for k, v in value.items()
        )
    if isinstance(value, list | tuple | set | frozenset):
        return size + sum(estimate_size(v, _depth + 1) for v in value)
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return size + nbytes
    if is_dataclass(value) and not isinstance(value, type):
        return size + sum(estimate_size(getattr(value, f.name), _depth + 1) for f in fields(value))
    attrs = getattr(value, "__dict__", None)
    if isinstance(attrs, dict):
        return size + estimate_size(attrs, _depth + 1)
    return size


@dataclass(slots=True)
class _Entry:
    value: Any
    expires_at: float  # clock time; inf = never
    size: int
    tags: tuple[str, ...]


class MemoryCache:
    """In-process LRU cache with per-key TTL, entry and byte bounds, and tags.

    Parameters
    ----------
    max_entries:
        Most entries kept; the least recently used go first.
    max_bytes:
        Most estimated bytes kept (``None``: no byte bound). A single value larger
        than this is not stored at all.
    default_ttl:
        Seconds used when ``set`` gets ``ttl=None``; ``None`` or ``0``: no expiry.
    clock:
        Monotonic seconds; inject a fake one in tests.
    """

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        max_bytes: int | None = 64 * 1024 * 1024,
        default_ttl: float | None = None,
        sizer: Callable[[Any], int] = estimate_size,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or (max_bytes is not None and max_bytes < 1):
            raise ValidationError(
                "validation.cache_bounds",
                message="max_entries and max_bytes must be positive.",
            )
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.default_ttl = default_ttl
        self.stats = CacheStats()
        self._sizer = sizer
        self._clock = clock
        self._data: OrderedDict[str, _Entry] = OrderedDict()
        self._tags: dict[str, set[str]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    # -- introspection -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._data)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` holds an unexpired value (no recency or stats change)."""
        if not isinstance(key, str):
            return False
        with self._lock:
            entry = self._data.get(normalize_key(key))
            return entry is not None and entry.expires_at > self._clock()

    # -- synchronous core (also the body of the async API) ---------------------------

    def get_sync(self, key: str) -> Any:
        k = normalize_key(key)
        with self._lock:
            entry = self._data.get(k)
            if entry is None:
                self.stats.misses += 1
                return None
            if entry.expires_at <= self._clock():
                self._remove(k, entry)
                self.stats.expirations += 1
                self.stats.misses += 1
                return None
            self._data.move_to_end(k)
            self.stats.hits += 1
            return entry.value

    #: The decorator's synchronous fast path (same as :meth:`get_sync`).
    peek = get_sync

    def set_sync(
        self,
        key: str,
        value: Any,
        *,
        ttl: float | None = None,
        tags: Iterable[str] = (),
        size: int | None = None,
    ) -> None:
        """Store ``value``; ``size`` (bytes) skips the sizer when the caller knows it."""
        k = normalize_key(key)
        expires_at = self._expiry(ttl)
        size = self._sizer(value) if size is None else size
        tag_tuple = tuple(tags)
        with self._lock:
            old = self._data.get(k)
            if old is not None:
                self._remove(k, old)
            if self.max_bytes is not None and size > self.max_bytes:
                self.stats.evictions += 1  # too large to keep: evicted on arrival
                return
            self._data[k] = _Entry(value, expires_at, size, tag_tuple)
            self._bytes += size
            for tag in tag_tuple:
                self._tags.setdefault(tag, set()).add(k)
            self.stats.sets += 1
            self._evict()

    def delete_sync(self, key: str) -> bool:
        k = normalize_key(key)
        with self._lock:
            entry = self._data.get(k)
            if entry is None:
                return False
            self._remove(k, entry)
            self.stats.deletes += 1
            return True

    def invalidate_tags_sync(self, tags: Iterable[str]) -> int:
        removed = 0
        with self._lock:
            for tag in tags:
                for k in list(self._tags.get(tag, ())):
                    entry = self._data.get(k)
                    if entry is not None:
                        self._remove(k, entry)
                        removed += 1
            self.stats.deletes += removed
        return removed

    def clear_prefix_sync(self, prefix: str) -> int:
        with self._lock:
            doomed = [k for k in self._data if k.startswith(prefix)]
            for k in doomed:
                self._remove(k, self._data[k])
            self.stats.deletes += len(doomed)
        return len(doomed)

    def clear(self) -> None:
        """Drop everything (used by the tiered cache after missing invalidations)."""
        with self._lock:
            self._data.clear()
            self._tags.clear()
            self._bytes = 0

    def incr_sync(self, key: str, delta: int = 1, *, ttl: float | None = None) -> int:
        k = normalize_key(key)
        with self._lock:
            entry = self._data.get(k)
            if entry is not None and entry.expires_at <= self._clock():
                self._remove(k, entry)
                entry = None
            if entry is None:
                value = delta
                self._data[k] = _Entry(value, self._expiry(ttl), sys.getsizeof(value), ())
                self._bytes += self._data[k].size
                self._evict()
                return value
            if not isinstance(entry.value, int) or isinstance(entry.value, bool):
                raise CacheError(
                    "cache.not_an_integer",
                    details={"key": k[:80]},
                    message="Cannot increment {key!r}: its value is not an integer.",
                )
            entry.value += delta
            self._data.move_to_end(k)
            return int(entry.value)

    # -- async API (the Cache protocol) --------------------------------------------

    async def get(self, key: str) -> Any:
        return self.get_sync(key)

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        found = {}
        for key in keys:
            value = self.get_sync(key)
            if value is not None:
                found[key] = value
        return found

    async def set(
        self, key: str, value: Any, *, ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        self.set_sync(key, value, ttl=ttl, tags=tags)

    async def set_many(
        self, items: Mapping[str, Any], *, ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        tag_tuple = tuple(tags)
        for key, value in items.items():
            self.set_sync(key, value, ttl=ttl, tags=tag_tuple)

    async def delete(self, key: str) -> bool:
        return self.delete_sync(key)

    async def delete_many(self, keys: Iterable[str]) -> int:
        return sum(self.delete_sync(k) for k in keys)

    async def invalidate_tags(self, tags: Iterable[str]) -> int:
        return self.invalidate_tags_sync(tags)

    async def clear_prefix(self, prefix: str) -> int:
        return self.clear_prefix_sync(prefix)

    async def incr(self, key: str, delta: int = 1, *, ttl: float | None = None) -> int:
        return self.incr_sync(key, delta, ttl=ttl)

    async def close(self) -> None:
        self.clear()

    # -- internals (lock held) -------------------------------------------------------

    def _expiry(self, ttl: float | None) -> float:
        seconds = self.default_ttl if ttl is None else ttl
        if seconds is None or seconds == 0:
            return float("inf")
        if seconds < 0:
            raise CacheError("cache.bad_ttl", details={"ttl": seconds}, message="ttl {ttl} < 0.")
        return self._clock() + seconds

    def _remove(self, k: str, entry: _Entry) -> None:
        del self._data[k]
        self._bytes -= entry.size
        for tag in entry.tags:
            keys = self._tags.get(tag)
            if keys is not None:
                keys.discard(k)
                if not keys:
                    del self._tags[tag]

    def _evict(self) -> None:
        while len(self._data) > self.max_entries or (
            self.max_bytes is not None and self._bytes > self.max_bytes
        ):
            k, entry = next(iter(self._data.items()))
            self._remove(k, entry)
            self.stats.evictions += 1
