"""``@cached``: memoise a function in a cache, without stampedes.

Keys are ``<key_prefix or module.qualname>:<digest>`` of the call's arguments
(see :mod:`backbeat.cache._keys`); pass ``key=lambda self, x: ...`` for arguments
that have no canonical encoding (objects, ``self``).

**Stampedes.** Within a process, one caller per key runs the loader and every
concurrent caller awaits its result (single flight). Across processes, when the
cache offers a lock (Redis, tiered), the loader runs under ``SET NX PX`` with a
random token and ``lock_timeout``; other processes poll the cache with capped
backoff and take the value as soon as it lands, loading themselves only if the
holder released without storing or ``wait_timeout`` passes. We chose a lock over
probabilistic early refresh (XFetch, Vattani et al., VLDB 2015) because the lock
guarantees one loader per key, which is what protects a slow backend from a
cold start; ``stale_ttl`` (stale-while-revalidate) gives XFetch's other benefit,
never making a caller wait on a refresh.

**Stale-while-revalidate.** With ``stale_ttl=s``, an entry is fresh for ``ttl``
seconds and kept ``s`` seconds longer; a read in that window returns the stale
value at once and refreshes it in the background (one refresh per key).

Plain ``def`` functions work with a :class:`~backbeat.cache.MemoryCache`
directly, and with any async cache when called from a worker thread started by
anyio (``anyio.to_thread.run_sync``), where the cache is reached through the
event loop. Elsewhere a sync function with an async-only cache raises
``CacheError`` (``cache.sync_needs_loop``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, cast

from backbeat.cache._keys import CallKeys
from backbeat.cache._memory import MemoryCache
from backbeat.cache._protocol import Cache
from backbeat.errors import CacheError

__all__ = ["CachedFunction", "CachedStats", "cache_result", "cached", "default_cache"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
T = TypeVar("T")

_DEFAULT_CACHE: MemoryCache | None = None
_REFRESHERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="backbeat-cache-refresh")


def default_cache() -> MemoryCache:
    """The process-wide memory cache ``@cached`` uses when given no ``cache=``."""
    global _DEFAULT_CACHE
    if _DEFAULT_CACHE is None:
        _DEFAULT_CACHE = MemoryCache()
    return _DEFAULT_CACHE


@dataclass(slots=True)
class CachedStats:
    """Counters of one decorated function."""

    hits: int = 0
    misses: int = 0
    stale_hits: int = 0
    coalesced: int = 0  # calls that joined a concurrent identical call
    loads: int = 0
    load_errors: int = 0
    load_seconds: float = 0.0


CacheSource = Cache | Callable[[], Cache] | None
TagSource = Iterable[str] | Callable[..., Iterable[str]]


class CachedFunction(Protocol[P, R_co]):
    """What ``@cached`` returns: the function, plus ``stats``, ``key_for``, ``invalidate``.

    It is a real function (``def`` or ``async def`` like the original), so
    ``inspect``, FastAPI and other decorators (``@retry``) see it as such.
    """

    stats: CachedStats

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def key_for(self, *args: Any, **kwargs: Any) -> str: ...

    def invalidate(self, *args: Any, **kwargs: Any) -> Any: ...

    def get_cache(self) -> Cache: ...


class _Cached(Generic[P, R]):
    """The machinery behind one decorated function."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        ttl: float | None,
        key_prefix: str | None,
        key: Callable[..., object] | None,
        tags: TagSource,
        cache: CacheSource,
        cache_none: bool,
        stale_ttl: float | None,
        lock_timeout: float,
        wait_timeout: float | None,
    ) -> None:
        self.fn = fn
        self.ttl = ttl
        self.prefix = key_prefix or f"{fn.__module__}.{fn.__qualname__}"
        self.key_fn = key
        self.tags = tags
        self.cache_source = cache
        # A cache object (anything with get/set) is fixed now; a callable is resolved per call.
        self._fixed_cache: Cache | None = (
            cast(Cache, cache) if hasattr(cache, "get") and hasattr(cache, "set") else None
        )
        self.cache_none = cache_none
        self.stale_ttl = stale_ttl
        self.lock_timeout = lock_timeout
        self.wait_timeout = wait_timeout if wait_timeout is not None else lock_timeout
        self.stats = CachedStats()
        self.is_async = inspect.iscoroutinefunction(fn)
        self._keys = CallKeys(fn, self.prefix, key)
        self._flights: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Future[Any]]
        ] = weakref.WeakKeyDictionary()
        self._background: set[asyncio.Task[Any]] = set()
        self._refreshing: set[str] = set()
        self._sync_lock = threading.Lock()
        self._sync_flights: dict[str, _SyncFlight] = {}

    # -- helpers users call ------------------------------------------------------------

    @property
    def cache(self) -> Cache:
        """The cache in use (resolved on every call when given as a callable)."""
        if self._fixed_cache is not None:
            return self._fixed_cache
        if self.cache_source is None:
            return default_cache()
        return cast(Callable[[], Cache], self.cache_source)()

    def key_for(self, *args: Any, **kwargs: Any) -> str:
        """The cache key a call with these arguments uses."""
        return self._keys.key_for(*args, **kwargs)

    def invalidate(self, *args: Any, **kwargs: Any) -> Any:
        """Drop the cached result for these arguments (awaitable for ``async def``)."""
        key = self.key_for(*args, **kwargs)
        if self.is_async:
            return self.cache.delete(key)
        return self._sync_cache_call(lambda c: c.delete_sync(key), lambda c: c.delete(key))

    # -- shared pieces ----------------------------------------------------------------

    def _tags_for(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, ...]:
        tags = self.tags(*args, **kwargs) if callable(self.tags) else self.tags
        return tuple(tags)

    def _ttls(self, cache: Any) -> tuple[float, float | None]:
        """(seconds to store, seconds fresh) for the next write; 0 stores forever."""
        ttl = self.ttl if self.ttl is not None else getattr(cache, "default_ttl", None)
        if not ttl:
            return 0, None
        return ttl + (self.stale_ttl or 0), ttl

    def _envelope(self, value: Any, cache: Any) -> tuple[list[Any], float]:
        store, fresh = self._ttls(cache)
        return [value, None if fresh is None else time.time() + fresh], store

    @staticmethod
    def _unwrap(envelope: Any) -> tuple[bool, Any, bool]:
        """(found, value, fresh) from a stored envelope."""
        if not isinstance(envelope, list) or len(envelope) != 2:
            return False, None, False
        value, fresh_until = envelope
        return True, value, fresh_until is None or time.time() < fresh_until

    # -- async path --------------------------------------------------------------------

    async def _call_async(self, *args: Any, **kwargs: Any) -> Any:
        cache = self.cache
        key = self.key_for(*args, **kwargs)
        peek = getattr(cache, "peek", None)
        if peek is not None:
            # In-process level first, synchronously: a hit costs no await at all.
            found, value, fresh = self._unwrap(peek(key))
            if found and fresh:
                self.stats.hits += 1
                return value
        # Concurrent calls for one key share one flight: one cache read, and on a
        # miss one load; so a burst of identical calls costs one round trip.
        value, stale = await self._single_flight(
            key, lambda: self._read_or_load(cache, key, args, kwargs)
        )
        if stale:
            self._refresh_soon(cache, key, args, kwargs)
        return value

    async def _read_or_load(
        self, cache: Cache, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, bool]:
        found, value, fresh = self._unwrap(await cache.get(key))
        if found and fresh:
            self.stats.hits += 1
            return value, False
        if found:
            self.stats.stale_hits += 1
            return value, True
        self.stats.misses += 1
        return await self._load_across_processes(cache, key, args, kwargs), False

    def _loop_flights(self) -> dict[str, asyncio.Future[Any]]:
        loop = asyncio.get_running_loop()
        flights = self._flights.get(loop)
        if flights is None:
            flights = self._flights[loop] = {}
        return flights

    async def _single_flight(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` once per key at a time in this event loop; joiners share its outcome."""
        flights = self._loop_flights()
        while (flight := flights.get(key)) is not None:
            try:
                self.stats.coalesced += 1
                return cast(T, await asyncio.shield(flight))
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if flight.cancelled() and task is not None and not task.cancelling():
                    continue  # the leader was cancelled, not us: lead the next flight
                raise
        flight = asyncio.get_running_loop().create_future()
        flights[key] = flight
        try:
            result = await work()
        except asyncio.CancelledError:
            flight.cancel()
            raise
        except BaseException as e:
            flight.set_exception(e)
            flight.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        else:
            flight.set_result(result)
            return result
        finally:
            if flights.get(key) is flight:
                del flights[key]

    async def _load_across_processes(
        self, cache: Cache, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        acquire = getattr(cache, "acquire_lock", None)
        if acquire is None:
            return await self._load_and_store(cache, key, args, kwargs)
        deadline = time.monotonic() + self.wait_timeout
        delay = 0.002
        while True:
            token = await acquire(key, timeout=self.lock_timeout)
            if token is not None:
                try:
                    if token:  # a real lock: someone may have stored it meanwhile
                        found, value, fresh = self._unwrap(await cache.get(key))
                        if found and fresh:
                            return value
                    return await self._load_and_store(cache, key, args, kwargs)
                finally:
                    if token:
                        await cache.release_lock(key, token)  # type: ignore[attr-defined]
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
            found, value, fresh = self._unwrap(await cache.get(key))
            if found and fresh:
                return value
            if time.monotonic() >= deadline:
                log.warning("cache: gave up waiting for another process to load %r", key[:120])
                return await self._load_and_store(cache, key, args, kwargs)

    async def _load_and_store(
        self, cache: Cache, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        start = time.perf_counter()
        try:
            if self.is_async:
                value = await cast(Callable[..., Awaitable[Any]], self.fn)(*args, **kwargs)
            else:  # a plain function reached through the event loop: off the loop thread
                import anyio.to_thread

                value = await anyio.to_thread.run_sync(functools.partial(self.fn, *args, **kwargs))
        except BaseException:
            self.stats.load_errors += 1
            raise
        finally:
            self.stats.loads += 1
            self.stats.load_seconds += time.perf_counter() - start
        if value is not None or self.cache_none:
            envelope, store_ttl = self._envelope(value, cache)
            await cache.set(key, envelope, ttl=store_ttl, tags=self._tags_for(args, kwargs))
        return value

    def _refresh_soon(
        self, cache: Cache, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        if key in self._refreshing:
            return  # one background refresh per key

        async def reload() -> tuple[Any, bool]:
            return await self._load_across_processes(cache, key, args, kwargs), False

        async def refresh() -> None:
            try:
                await self._single_flight(key, reload)
            except Exception as e:  # keep serving the stale value; say why
                log.warning("cache: background refresh of %r failed: %r", key[:120], e)
            finally:
                self._refreshing.discard(key)

        self._refreshing.add(key)
        task = asyncio.get_running_loop().create_task(refresh())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- sync path -------------------------------------------------------------------------

    def _sync_cache_call(
        self, sync_op: Callable[[Any], Any], async_op: Callable[[Any], Any]
    ) -> Any:
        cache = self.cache
        if isinstance(cache, MemoryCache):
            return sync_op(cache)
        import anyio.from_thread

        try:
            return anyio.from_thread.run(async_op, cache)
        except RuntimeError as e:
            raise CacheError(
                "cache.sync_needs_loop",
                details={"function": self.prefix, "cache": type(cache).__name__},
                message=(
                    "{function} is a plain function cached in a {cache}: call it from a "
                    "worker thread (anyio.to_thread.run_sync) or use a MemoryCache."
                ),
            ) from e

    def _call_sync(self, *args: Any, **kwargs: Any) -> Any:
        cache = self.cache
        if not isinstance(cache, MemoryCache):
            # Same path as async functions (single flight, cross-process lock),
            # run on the event loop that owns the cache.
            return self._sync_cache_call(
                lambda c: None, lambda c: self._call_async(*args, **kwargs)
            )
        key = self.key_for(*args, **kwargs)
        found, value, fresh = self._unwrap(cache.get_sync(key))
        if found and fresh:
            self.stats.hits += 1
            return value
        if found:
            self.stats.stale_hits += 1
            with self._sync_lock:
                running = key in self._sync_flights
            if not running:
                _REFRESHERS.submit(self._sync_single_flight, cache, key, args, kwargs, True)
            return value
        self.stats.misses += 1
        return self._sync_single_flight(cache, key, args, kwargs, False)

    def _sync_single_flight(
        self,
        cache: MemoryCache,
        key: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        background: bool,
    ) -> Any:
        with self._sync_lock:
            flight = self._sync_flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._sync_flights[key] = _SyncFlight()
        if not leader:
            return None if background else flight.wait()
        try:
            start = time.perf_counter()
            try:
                value = self.fn(*args, **kwargs)
            finally:
                self.stats.loads += 1
                self.stats.load_seconds += time.perf_counter() - start
            if value is not None or self.cache_none:
                envelope, store_ttl = self._envelope(value, cache)
                cache.set_sync(key, envelope, ttl=store_ttl, tags=self._tags_for(args, kwargs))
            flight.resolve(value, None)
            return value
        except Exception as e:
            self.stats.load_errors += 1
            flight.resolve(None, e)
            if background:
                log.warning("cache: background refresh of %r failed: %r", key[:120], e)
                return None
            raise
        finally:
            with self._sync_lock:
                self._sync_flights.pop(key, None)


class _SyncFlight:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None

    def resolve(self, value: Any, error: BaseException | None) -> None:
        self.value, self.error = value, error
        self.done.set()

    def wait(self) -> Any:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.value


def cached(
    ttl: float | None = None,
    *,
    key_prefix: str | None = None,
    key: Callable[..., object] | None = None,
    tags: TagSource = (),
    cache: CacheSource = None,
    cache_none: bool = False,
    stale_ttl: float | None = None,
    lock_timeout: float = 30.0,
    wait_timeout: float | None = None,
) -> Callable[[Callable[P, R]], CachedFunction[P, R]]:
    """Cache a function's results; ``def`` or ``async def``.

    Parameters
    ----------
    ttl:
        Seconds a result stays fresh; ``None``: the cache's ``default_ttl``.
    key_prefix:
        Replaces ``module.qualname`` at the start of every key.
    key:
        ``key(*args, **kwargs) -> str``: your own key suffix (for methods, objects).
    tags:
        Tags stored with each result, or ``tags(*args, **kwargs) -> iterable``.
    cache:
        A cache, or a zero-argument callable returning one (``lambda: tk.cache``);
        default: the process-wide :func:`default_cache`.
    cache_none:
        Also cache ``None`` results (by default ``None`` is never cached).
    stale_ttl:
        Serve a stale result for this many seconds past ``ttl`` while refreshing.
    lock_timeout, wait_timeout:
        Lifetime of the cross-process loader lock, and how long other processes
        wait for its holder before loading themselves (default ``lock_timeout``).

    The wrapper has ``.invalidate(*args)``, ``.key_for(*args)``, ``.stats`` and
    ``.get_cache()``.
    """

    def decorate(fn: Callable[P, R]) -> CachedFunction[P, R]:
        impl = _Cached(
            fn,
            ttl=ttl,
            key_prefix=key_prefix,
            key=key,
            tags=tags,
            cache=cache,
            cache_none=cache_none,
            stale_ttl=stale_ttl,
            lock_timeout=lock_timeout,
            wait_timeout=wait_timeout,
        )
        if impl.is_async:

            @functools.wraps(fn)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                return await impl._call_async(*args, **kwargs)

            wrapper: Any = awrapper
        else:

            @functools.wraps(fn)
            def swrapper(*args: Any, **kwargs: Any) -> Any:
                return impl._call_sync(*args, **kwargs)

            wrapper = swrapper
        wrapper.stats = impl.stats
        wrapper.key_for = impl.key_for
        wrapper.invalidate = impl.invalidate
        wrapper.get_cache = lambda: impl.cache
        return cast(CachedFunction[P, R], wrapper)

    return decorate


#: The seed's name: ``@cache_result(ttl=300, key_prefix="spotify_api")``.
cache_result = cached
