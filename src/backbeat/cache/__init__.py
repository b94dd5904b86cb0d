"""Two-level cache: in-process L1 (:class:`MemoryCache`), Redis L2 (:class:`RedisCache`),
both behind :class:`TieredCache`, and the ``@cached`` decorator.

>>> from backbeat.cache import MemoryCache, cached
>>> @cached(ttl=60, key_prefix="spotify_api", cache=MemoryCache())
... async def fetch_track(track_id: str) -> dict: ...

``Toolkit.cache`` gives the tiered cache when ``REDIS_URL`` is set and a memory
cache otherwise, with ``CACHE_TTL_DEFAULT`` as the default TTL.
"""

from backbeat.cache._decorator import (
    CachedFunction,
    CachedStats,
    cache_result,
    cached,
    default_cache,
)
from backbeat.cache._memory import MemoryCache, estimate_size
from backbeat.cache._protocol import MAX_KEY_LENGTH, Cache, CacheStats, normalize_key
from backbeat.cache._redis import RedisCache
from backbeat.cache._serializers import MsgpackSerializer, PickleSerializer, Serializer
from backbeat.cache._tiered import TieredCache

__all__ = [
    "MAX_KEY_LENGTH",
    "Cache",
    "CacheStats",
    "CachedFunction",
    "CachedStats",
    "MemoryCache",
    "MsgpackSerializer",
    "PickleSerializer",
    "RedisCache",
    "Serializer",
    "TieredCache",
    "cache_result",
    "cached",
    "default_cache",
    "estimate_size",
    "normalize_key",
]
