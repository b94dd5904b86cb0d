"""The ``Cache`` protocol every store implements, its counters, and key rules.

Keys are ``str``. A key containing control characters (``\\x00``-``\\x1f``,
``\\x7f``) is refused with ``CacheError`` (``cache.bad_key``): they break logs,
``redis-cli`` and the pub/sub messages that keep caches coherent. A key longer
than :data:`MAX_KEY_LENGTH` characters is replaced by its first 64 characters
plus a SHA-256 digest of the whole, so any length works and distinct keys stay
distinct; :func:`normalize_key` is applied by every store, so all of them agree.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from backbeat.errors import CacheError

__all__ = ["MAX_KEY_LENGTH", "Cache", "CacheStats", "normalize_key"]

MAX_KEY_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalize_key(key: str) -> str:
    """Validate ``key``; hash it if it is longer than :data:`MAX_KEY_LENGTH`."""
    if type(key) is str and len(key) <= MAX_KEY_LENGTH and key.isprintable() and key:
        return key  # the common case, decided in C
    if not isinstance(key, str) or not key:
        raise CacheError(
            "cache.bad_key",
            details={"type": type(key).__name__},
            message="Cache keys must be non-empty strings (got {type}).",
        )
    if _CONTROL.search(key):
        raise CacheError(
            "cache.bad_key",
            details={"key": key.encode("unicode_escape").decode()[:80]},
            message="Cache key {key!r} contains control characters.",
        )
    if len(key) > MAX_KEY_LENGTH:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f"{key[:64]}~{digest}"
    return key


@dataclass(slots=True)
class CacheStats:
    """Plain counters, per cache level; read them, or export them to metrics."""

    hits: int = 0
    misses: int = 0
    sets: int = 0
    deletes: int = 0
    evictions: int = 0
    expirations: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@runtime_checkable
class Cache(Protocol):
    """An async key-value cache with TTLs, tags and prefix clearing.

    ``get`` returns ``None`` on a miss; ``ttl`` is in seconds (``None``: the
    cache's default TTL; ``0``: no expiry). ``tags`` group keys for
    :meth:`invalidate_tags`.
    """

    async def get(self, key: str) -> Any: ...

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]: ...

    async def set(
        self, key: str, value: Any, *, ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None: ...

    async def set_many(
        self, items: Mapping[str, Any], *, ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None: ...

    async def delete(self, key: str) -> bool: ...

    async def delete_many(self, keys: Iterable[str]) -> int: ...

    async def invalidate_tags(self, tags: Iterable[str]) -> int: ...

    async def clear_prefix(self, prefix: str) -> int: ...

    async def incr(self, key: str, delta: int = 1, *, ttl: float | None = None) -> int: ...

    async def close(self) -> None: ...
