from __future__ import annotations

import threading
import time
from typing import Any

import anyio
import anyio.to_thread
import pytest

from backbeat.cache import MemoryCache, cache_result, cached
from backbeat.core import retry
from backbeat.errors import CacheError

pytestmark = pytest.mark.anyio


async def test_second_call_is_a_hit() -> None:
    calls = 0

    @cached(ttl=60, cache=MemoryCache())
    async def fetch(track_id: str) -> dict[str, str]:
        nonlocal calls
        calls += 1
        return {"id": track_id}

    assert await fetch("a") == {"id": "a"}
    assert await fetch("a") == {"id": "a"}
    assert await fetch("b") == {"id": "b"}
    assert calls == 2
    assert (fetch.stats.hits, fetch.stats.misses, fetch.stats.loads) == (1, 2, 2)


async def test_keys_are_normalised_through_the_signature() -> None:
    @cached(cache=MemoryCache())
    async def f(x: int, y: int = 2, *, z: str = "a") -> int:
        return x

    assert f.key_for(1) == f.key_for(x=1) == f.key_for(1, 2, z="a")
    assert f.key_for(1) != f.key_for(1, 3)
    assert f.key_for({"a": 1, "b": 2}) == f.key_for({"b": 2, "a": 1})
    assert f.key_for({1, 2, 3}) == f.key_for({3, 2, 1})
    assert f.key_for(1).startswith(f"{__name__}.test_keys_are_normalised_through_the_signature")


def test_keys_are_stable_across_processes() -> None:
    import subprocess
    import sys

    code = (
        "from backbeat.cache import cached\n"
        "@cached(key_prefix='p')\n"
        "def f(a, b=None): ...\n"
        "print(f.key_for('x', {'k': [1, 2.5, None]}))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    assert len(outs) == 1
    assert outs.pop().startswith("p:")


async def test_key_prefix_and_custom_key() -> None:
    @cached(key_prefix="spotify_api", key=lambda track_id: track_id.upper(), cache=MemoryCache())
    async def fetch(track_id: str) -> str:
        return track_id

    assert fetch.key_for("abc") == "spotify_api:ABC"


async def test_unkeyable_argument_asks_for_key() -> None:
    class Client:
        pass

    @cached(cache=MemoryCache())
    async def fetch(client: Client) -> int:
        return 1

    with pytest.raises(CacheError) as info:
        await fetch(Client())
    assert info.value.code == "cache.unkeyable_argument"
    assert "key=" in info.value.message


async def test_invalidate_drops_one_result() -> None:
    calls = 0

    @cached(cache=MemoryCache())
    async def f(x: int) -> int:
        nonlocal calls
        calls += 1
        return x

    await f(1)
    await f(2)
    await f.invalidate(1)
    await f(1)
    await f(2)
    assert calls == 3


async def test_none_is_not_cached_unless_asked() -> None:
    calls = 0

    async def lookup(x: int) -> None:
        nonlocal calls
        calls += 1

    plain = cached(cache=MemoryCache())(lookup)
    await plain(1)
    await plain(1)
    assert calls == 2
    with_none = cached(cache=MemoryCache(), cache_none=True)(lookup)
    await with_none(1)
    await with_none(1)
    assert calls == 3


async def test_errors_are_not_cached() -> None:
    calls = 0

    @cached(cache=MemoryCache())
    async def flaky() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError
        return 42

    with pytest.raises(ConnectionError):
        await flaky()
    assert await flaky() == 42
    assert flaky.stats.load_errors == 1


async def test_ttl_expiry_reloads() -> None:
    cache = MemoryCache()
    calls = 0

    @cached(ttl=0.05, cache=cache)
    async def f() -> int:
        nonlocal calls
        calls += 1
        return calls

    assert await f() == 1
    await anyio.sleep(0.06)
    assert await f() == 2


async def test_thousand_concurrent_callers_one_loader_call() -> None:
    calls = 0

    @cached(ttl=60, cache=MemoryCache())
    async def slow(key: str) -> str:
        nonlocal calls
        calls += 1
        await anyio.sleep(0.05)
        return key * 2

    results: list[str] = []

    async def caller() -> None:
        results.append(await slow("k"))

    async with anyio.create_task_group() as tg:
        for _ in range(1000):
            tg.start_soon(caller)
    assert calls == 1
    assert results == ["kk"] * 1000


async def test_concurrent_callers_all_see_the_loader_error() -> None:
    calls = 0

    @cached(cache=MemoryCache())
    async def broken() -> int:
        nonlocal calls
        calls += 1
        await anyio.sleep(0.01)
        raise ValueError("down")

    errors: list[BaseException] = []

    async def caller() -> None:
        try:
            await broken()
        except ValueError as e:
            errors.append(e)

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(caller)
    assert calls == 1
    assert len(errors) == 50


async def test_cancelled_leader_hands_over_to_a_waiter() -> None:
    calls = 0

    @cached(cache=MemoryCache())
    async def slow() -> int:
        nonlocal calls
        calls += 1
        await anyio.sleep(0.05 if calls > 1 else 10)
        return calls

    results: list[int] = []

    async def waiter() -> None:
        results.append(await slow())

    async with anyio.create_task_group() as tg:
        with anyio.move_on_after(0.02):
            tg.start_soon(waiter)  # started inside the group, not the cancelled scope
            await slow()  # this one leads and is cancelled
    assert results == [2]


async def test_stale_while_revalidate_serves_stale_and_refreshes_once() -> None:
    version = 0
    calls = 0

    @cached(ttl=0.05, stale_ttl=10, cache=MemoryCache())
    async def f() -> int:
        nonlocal calls
        calls += 1
        await anyio.sleep(0 if calls == 1 else 0.5)  # the refresh is slow
        return version

    assert await f() == 0
    version = 1
    await anyio.sleep(0.06)
    # Stale now: answered at once with the old value, one refresh in the background.
    start = time.monotonic()
    assert [await f() for _ in range(5)] == [0] * 5
    assert time.monotonic() - start < 0.25  # nobody waited for the 0.5 s refresh
    assert f.stats.stale_hits == 5
    with anyio.fail_after(2):
        while await f() != 1:  # noqa: ASYNC110 - polling the value under test
            await anyio.sleep(0.005)
    assert calls == 2


async def test_tags_invalidate_cached_results() -> None:
    cache = MemoryCache()

    @cached(cache=cache, tags=lambda artist_id: [f"artist:{artist_id}"])
    async def top_tracks(artist_id: str) -> list[str]:
        return [artist_id]

    await top_tracks("a1")
    assert top_tracks.stats.loads == 1
    await cache.invalidate_tags(["artist:a1"])
    await top_tracks("a1")
    assert top_tracks.stats.loads == 2


async def test_cache_given_as_a_callable_is_resolved_per_call() -> None:
    caches = [MemoryCache(), MemoryCache()]
    current = 0

    @cached(cache=lambda: caches[current])
    async def f() -> int:
        return 1

    await f()
    current = 1
    await f()
    assert f.stats.loads == 2


async def test_stacks_with_retry_as_the_seed_shows() -> None:
    calls = 0

    @retry(max_attempts=3, initial_delay=0.001)
    @cache_result(ttl=300, key_prefix="spotify_api", cache=MemoryCache())
    async def fetch_spotify_track(track_id: str) -> dict[str, str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError
        return {"id": track_id}

    assert await fetch_spotify_track("4iV5W9uYEdYUVa79Axb7Rh") == {"id": "4iV5W9uYEdYUVa79Axb7Rh"}
    assert await fetch_spotify_track("4iV5W9uYEdYUVa79Axb7Rh") == {"id": "4iV5W9uYEdYUVa79Axb7Rh"}
    assert calls == 2


# -- sync functions ----------------------------------------------------------------


def test_sync_function_with_memory_cache() -> None:
    calls = 0

    @cached(ttl=60, cache=MemoryCache())
    def square(x: int) -> int:
        nonlocal calls
        calls += 1
        return x * x

    assert square(3) == 9
    assert square(3) == 9
    assert calls == 1
    square.invalidate(3)
    assert square(3) == 9
    assert calls == 2


def test_sync_single_flight_across_threads() -> None:
    calls = 0
    lock = threading.Lock()

    @cached(cache=MemoryCache())
    def slow(x: int) -> int:
        nonlocal calls
        with lock:
            calls += 1
        time.sleep(0.05)
        return x

    barrier = threading.Barrier(16)
    results: list[int] = []

    def caller() -> None:
        barrier.wait()
        results.append(slow(7))

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == 1
    assert results == [7] * 16


def test_sync_stale_while_revalidate_refreshes_in_the_background() -> None:
    version = 0

    @cached(ttl=0.02, stale_ttl=10, cache=MemoryCache())
    def f() -> int:
        return version

    assert f() == 0
    version = 1
    time.sleep(0.03)
    assert f() == 0  # stale, refresh submitted
    deadline = time.monotonic() + 2
    while f() != 1:
        assert time.monotonic() < deadline
        time.sleep(0.005)


async def test_sync_function_with_async_cache_from_a_worker_thread() -> None:
    calls = 0

    @cached(cache=_AsyncProxy(MemoryCache()))  # type: ignore[arg-type]
    def f(x: int) -> int:
        nonlocal calls
        calls += 1
        return x + 1

    assert await anyio.to_thread.run_sync(f, 1) == 2
    assert await anyio.to_thread.run_sync(f, 1) == 2
    assert calls == 1


def test_sync_function_with_async_cache_outside_a_worker_thread_is_a_clear_error() -> None:
    @cached(cache=_AsyncProxy(MemoryCache()))  # type: ignore[arg-type]
    def f(x: int) -> int:
        return x

    with pytest.raises(CacheError) as info:
        f(1)
    assert info.value.code == "cache.sync_needs_loop"


class _AsyncProxy:
    """Exposes only the async Cache API of a MemoryCache."""

    def __init__(self, inner: MemoryCache) -> None:
        self._inner = inner
        self.default_ttl = None

    async def get(self, key: str) -> Any:
        return await self._inner.get(key)

    async def set(self, key: str, value: Any, **kw: Any) -> None:
        await self._inner.set(key, value, **kw)

    async def delete(self, key: str) -> bool:
        return await self._inner.delete(key)


async def test_equal_scalars_of_different_types_get_different_keys() -> None:
    @cached(cache=MemoryCache())
    async def f(x: object) -> str:
        return type(x).__name__

    for _ in range(2):  # second round goes through the key memo
        assert len({f.key_for(1), f.key_for(True), f.key_for(1.0), f.key_for("1")}) == 4
    assert [await f(1), await f(True), await f(1.0)] == ["int", "bool", "float"]


async def test_hit_from_l1_does_not_touch_the_flight_machinery() -> None:
    cache = MemoryCache()

    @cached(cache=cache)
    async def f(x: int) -> int:
        return x

    await f(1)
    await f(1)
    assert f.stats.hits == 1
    assert f.stats.coalesced == 0
