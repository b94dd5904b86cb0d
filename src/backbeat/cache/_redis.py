"""``RedisCache``: the shared L2, on redis-py's asyncio client.

Layout under ``prefix`` (default ``backbeat:cache:``):

- ``<prefix><key>``: the value: one header byte (bit 0: zlib-compressed; bit 1:
  an 8-byte big-endian expiry in epoch milliseconds follows, so an L1 copy never
  outlives its L2 original), then the serializer's bytes. Counters written by
  :meth:`incr` are Redis integers (ASCII digits), which a header byte (0-3) can
  never be confused with;
- ``<prefix>__tag__:<tag>``: a set of the keys carrying ``tag``; it lives as
  long as its longest-lived member (``EXPIRE ... NX`` then ``GT``, Redis >= 7);
- ``<prefix>__lock__:<key>``: a stampede lock (token, with a timeout).

Multi-key operations are one round trip (``MGET``, pipelines, one Lua script
for tag invalidation). A value that cannot be decoded (written by another
version, truncated, tampered with) is logged, deleted and reported as a miss.
Connection failures raise :class:`~backbeat.errors.Unavailable`
(``cache.unavailable``); :class:`~backbeat.cache.TieredCache` turns them into
degraded service. Tag and prefix operations address many keys and are not
Redis-Cluster-safe unless all keys share a hash slot (put ``{...}`` in ``prefix``).
"""

from __future__ import annotations

import logging
import secrets
import time
import zlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from backbeat.cache._protocol import CacheStats, normalize_key
from backbeat.cache._serializers import MsgpackSerializer, Serializer
from backbeat.errors import CacheError, Unavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["Entry", "RedisCache"]

log = logging.getLogger(__name__)

_ZLIB_FLAG, _EXPIRY_FLAG = 0x01, 0x02


class Entry(NamedTuple):
    """A decoded L2 entry: the value, its expiry (epoch ms, or None) and stored size."""

    value: Any
    expires_at_ms: int | None
    size: int


_INVALIDATE_TAGS = """
local removed = 0
for _, tagkey in ipairs(KEYS) do
  local members = redis.call('SMEMBERS', tagkey)
  for i = 1, #members, 5000 do
    removed = removed + redis.call('DEL', unpack(members, i, math.min(i + 4999, #members)))
  end
  redis.call('DEL', tagkey)
end
return removed
"""

_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError, OSError)


class RedisCache:
    """Redis-backed cache; see the module docstring for the key layout.

    Parameters
    ----------
    client:
        A ``redis.asyncio.Redis`` (``decode_responses=False``) or a URL.
    prefix:
        Prepended to every key this cache writes.
    serializer:
        Defaults to :class:`MsgpackSerializer` (never pickle by default).
    compress_threshold:
        Values whose encoding is at least this many bytes are zlib-compressed
        (level 1) when that makes them smaller; ``None`` disables compression.
    default_ttl:
        Seconds used when ``set`` gets ``ttl=None``; ``None`` or ``0``: no expiry.
    """

    def __init__(
        self,
        client: Redis | str,
        *,
        prefix: str = "backbeat:cache:",
        serializer: Serializer | None = None,
        compress_threshold: int | None = 1024,
        default_ttl: float | None = None,
    ) -> None:
        if isinstance(client, str):
            from redis.asyncio import BlockingConnectionPool, Redis

            # A blocking pool makes bursts wait for a connection instead of failing.
            pool = BlockingConnectionPool.from_url(
                client,
                max_connections=100,
                timeout=5.0,
                socket_connect_timeout=2.0,
                socket_timeout=5.0,
            )
            client = Redis.from_pool(pool)  # the client owns (and closes) the pool
            self._owns_client = True
        else:
            self._owns_client = False
        self.client: Redis = client
        self.prefix = prefix
        self.serializer = serializer or MsgpackSerializer()
        self.compress_threshold = compress_threshold
        self.default_ttl = default_ttl
        self.stats = CacheStats()
        self._errors = _redis_errors()
        self._invalidate_tags = self.client.register_script(_INVALIDATE_TAGS)
        self._release_lock = self.client.register_script(_RELEASE_LOCK)

    # -- encoding ------------------------------------------------------------------

    def full_key(self, key: str) -> str:
        return self.prefix + normalize_key(key)

    def _tag_key(self, tag: str) -> str:
        return f"{self.prefix}__tag__:{tag}"

    def encode(self, value: Any, expires_at_ms: int | None = None) -> bytes:
        """Header byte, optional expiry, then the (maybe compressed) serialised value."""
        data = self.serializer.dumps(value)
        flags = 0
        if self.compress_threshold is not None and len(data) >= self.compress_threshold:
            packed = zlib.compress(data, 1)
            if len(packed) < len(data):
                data, flags = packed, _ZLIB_FLAG
        if expires_at_ms is None:
            return bytes((flags,)) + data
        return bytes((flags | _EXPIRY_FLAG,)) + expires_at_ms.to_bytes(8, "big") + data

    def decode_entry(self, raw: bytes) -> Entry:
        """The entry in ``raw``; raises ``ValueError`` (and friends) on bad data."""
        head = raw[0] if raw else 0xFF
        if head > 3:
            return Entry(int(raw), None, len(raw))  # an INCRBY counter; garbage raises
        body, expires = raw[1:], None
        if head & _EXPIRY_FLAG:
            if len(body) < 8:
                raise ValueError("truncated entry")
            expires, body = int.from_bytes(body[:8], "big"), body[8:]
        if head & _ZLIB_FLAG:
            body = zlib.decompress(body)
        return Entry(self.serializer.loads(body), expires, len(raw))

    def decode(self, raw: bytes) -> Any:
        """The value in ``raw`` (see :meth:`decode_entry`)."""
        return self.decode_entry(raw)[0]

    def _ttl_ms(self, ttl: float | None) -> int | None:
        seconds = self.default_ttl if ttl is None else ttl
        if seconds is None or seconds == 0:
            return None
        if seconds < 0:
            raise CacheError("cache.bad_ttl", details={"ttl": seconds}, message="ttl {ttl} < 0.")
        return max(1, int(seconds * 1000))

    def _unavailable(self, e: BaseException) -> Unavailable:
        self.stats.errors += 1
        return Unavailable(
            "cache.unavailable",
            details={"reason": type(e).__name__},
            message="The Redis cache is unreachable ({reason}).",
        )

    async def _drop_corrupt(self, full_key: str, error: Exception) -> None:
        self.stats.errors += 1
        log.warning(
            "cache: dropping undecodable entry %r (%s)", full_key[:120], type(error).__name__
        )
        try:
            await self.client.delete(full_key)
        except self._errors as e:
            raise self._unavailable(e) from e

    # -- the Cache protocol -----------------------------------------------------------

    async def get(self, key: str) -> Any:
        entry = await self.get_entry(key)
        return None if entry is None else entry[0]

    async def get_entry(self, key: str) -> Entry | None:
        """The decoded entry, or ``None`` on a miss (what the tiered cache needs)."""
        k = self.full_key(key)
        try:
            raw = await self.client.get(k)
        except self._errors as e:
            raise self._unavailable(e) from e
        if raw is None:
            self.stats.misses += 1
            return None
        try:
            entry = self.decode_entry(cast(bytes, raw))
        except Exception as e:  # any decoding failure means a corrupt entry: miss
            await self._drop_corrupt(k, e)
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        return entry

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        return {k: e.value for k, e in (await self.get_many_entries(keys)).items()}

    async def get_many_entries(self, keys: Iterable[str]) -> dict[str, Entry]:
        """``{key: entry}`` for the keys present, in one ``MGET``."""
        wanted = list(keys)
        if not wanted:
            return {}
        full = [self.full_key(k) for k in wanted]
        try:
            raws = await self.client.mget(full)
        except self._errors as e:
            raise self._unavailable(e) from e
        found: dict[str, Entry] = {}
        for key, fk, raw in zip(wanted, full, raws, strict=True):
            if raw is None:
                self.stats.misses += 1
                continue
            try:
                found[key] = self.decode_entry(cast(bytes, raw))
                self.stats.hits += 1
            except Exception as e:  # corrupt entry: miss
                await self._drop_corrupt(fk, e)
                self.stats.misses += 1
        return found

    async def set(
        self, key: str, value: Any, *, ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        await self.set_many({key: value}, ttl=ttl, tags=tags)

    async def set_many(
        self,
        items: Mapping[str, Any],
        *,
        ttl: float | None = None,
        tags: Iterable[str] = (),
        publish: tuple[str, bytes] | None = None,
    ) -> None:
        """Store ``items`` in one round trip; ``publish`` (channel, message) rides along."""
        if not items:
            return
        px = self._ttl_ms(ttl)
        expires = None if px is None else int(time.time() * 1000) + px
        encoded = {self.full_key(k): self.encode(v, expires) for k, v in items.items()}
        tag_list = list(tags)
        pipe = self.client.pipeline(transaction=False)
        for fk, data in encoded.items():
            pipe.set(fk, data, px=px)
        for tag in tag_list:
            tk = self._tag_key(tag)
            pipe.sadd(tk, *encoded)
            if px is None:
                pipe.persist(tk)
            else:
                pipe.pexpire(tk, px, nx=True)
                pipe.pexpire(tk, px, gt=True)
        if publish is not None:
            pipe.publish(*publish)
        try:
            await pipe.execute()
        except self._errors as e:
            raise self._unavailable(e) from e
        self.stats.sets += len(encoded)

    async def delete(self, key: str) -> bool:
        return await self.delete_many([key]) == 1

    async def delete_many(
        self, keys: Iterable[str], *, publish: tuple[str, bytes] | None = None
    ) -> int:
        """Delete ``keys`` in one round trip; ``publish`` (channel, message) rides along."""
        full = [self.full_key(k) for k in keys]
        if not full:
            return 0
        try:
            if publish is None:
                removed = int(await self.client.delete(*full))
            else:
                pipe = self.client.pipeline(transaction=False)
                pipe.delete(*full)
                pipe.publish(*publish)
                removed = int((await pipe.execute())[0])
        except self._errors as e:
            raise self._unavailable(e) from e
        self.stats.deletes += removed
        return removed

    async def invalidate_tags(self, tags: Iterable[str]) -> int:
        tag_keys = [self._tag_key(t) for t in tags]
        if not tag_keys:
            return 0
        try:
            removed = int(await self._invalidate_tags(keys=tag_keys))
        except self._errors as e:
            raise self._unavailable(e) from e
        self.stats.deletes += removed
        return removed

    async def clear_prefix(self, prefix: str) -> int:
        pattern = self.prefix + _glob_escape(prefix) + "*"
        removed = 0
        try:
            batch: list[bytes] = []
            async for k in self.client.scan_iter(match=pattern, count=1000):
                batch.append(k)
                if len(batch) >= 1000:
                    removed += int(await self.client.unlink(*batch))
                    batch.clear()
            if batch:
                removed += int(await self.client.unlink(*batch))
        except self._errors as e:
            raise self._unavailable(e) from e
        self.stats.deletes += removed
        return removed

    async def incr(self, key: str, delta: int = 1, *, ttl: float | None = None) -> int:
        k = self.full_key(key)
        px = self._ttl_ms(ttl)
        pipe = self.client.pipeline(transaction=True)
        pipe.incrby(k, delta)
        if px is not None:
            pipe.pexpire(k, px, nx=True)
        try:
            result = await pipe.execute()
        except self._errors as e:
            raise self._unavailable(e) from e
        except Exception as e:  # redis.ResponseError: the value is not an integer
            raise CacheError(
                "cache.not_an_integer",
                details={"key": key[:80]},
                message="Cannot increment {key!r}: its value is not an integer.",
            ) from e
        return int(result[0])

    async def close(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    # -- stampede lock ----------------------------------------------------------------

    def _lock_key(self, key: str) -> str:
        return f"{self.prefix}__lock__:{normalize_key(key)}"

    async def acquire_lock(self, key: str, *, timeout: float) -> str | None:
        """Try once to take the loader lock for ``key``; the token, or ``None`` if held."""
        token = secrets.token_hex(16)
        try:
            ok = await self.client.set(
                self._lock_key(key), token, nx=True, px=max(1, int(timeout * 1000))
            )
        except self._errors as e:
            raise self._unavailable(e) from e
        return token if ok else None

    async def release_lock(self, key: str, token: str) -> bool:
        """Release the lock if ``token`` still holds it (never someone else's)."""
        try:
            return bool(await self._release_lock(keys=[self._lock_key(key)], args=[token]))
        except self._errors as e:
            raise self._unavailable(e) from e

    async def lock_held(self, key: str) -> bool:
        try:
            return bool(await self.client.exists(self._lock_key(key)))
        except self._errors as e:
            raise self._unavailable(e) from e


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
