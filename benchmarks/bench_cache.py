"""Cache throughput next to cashews, aiocache, cachetools and bare redis-py, in one process.

Sections:
1. L1 hit: ``await MemoryCache.get`` vs cashews' ``mem://`` backend, aiocache's
   ``SimpleMemoryCache`` and a cachetools ``TTLCache`` lookup (sync, a floor).
2. L2 (Redis, loopback): ``RedisCache`` get/set and ``TieredCache.get`` on an L2
   hit (L1 miss: the L1 holds one entry while keys cycle over 1,000) vs a bare
   redis-py GET/SET and cashews' ``redis://`` backend. Sequential calls: each is
   one round trip, so the ratio to the bare GET is our client-side overhead.
3. ``@cached`` on a hit vs calling the function bare, and vs cashews' ``@cache``.
4. Invalidation propagation: time from a write in one ``TieredCache`` until a
   second one (own connections, same process) has dropped its L1 copy.

Needs Redis at ``BACKBEAT_BENCH_REDIS_URL`` (default redis://127.0.0.1:6379/15);
sections 2 and 4 are skipped, with a note, when it is unreachable.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable

import cachetools
from aiocache import SimpleMemoryCache
from cashews import Cache as CashewsCache
from redis.asyncio import Redis

from _table import print_table
from backbeat.cache import MemoryCache, RedisCache, TieredCache, cached

REDIS_URL = os.environ.get("BACKBEAT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
PREFIX = "bbbench:"
N_MEM = 200_000
N_REDIS = 2_000
KEYS = [f"track:{i}" for i in range(1000)]
VALUE = {"id": "4iV5W9uYEdYUVa79Axb7Rh", "tempo": 120.0, "key": 5, "artists": ["a", "b"]}


async def ops_per_s(op: Callable[[str], Awaitable[object]], n: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(n):
            await op(KEYS[i % 1000])
        best = min(best, time.perf_counter() - start)
    return n / best


async def interleaved(
    ops: dict[str, Callable[[str], Awaitable[object]]], n: int, rounds: int = 7
) -> dict[str, float]:
    """Best ops/s of each op over ``rounds``, the ops taking turns so drift hits all alike."""
    best = dict.fromkeys(ops, 0.0)
    for _ in range(rounds):
        for name, op in ops.items():
            best[name] = max(best[name], await ops_per_s(op, n, repeat=1))
    return best


def sync_ops_per_s(op: Callable[[str], object], n: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(n):
            op(KEYS[i % 1000])
        best = min(best, time.perf_counter() - start)
    return n / best


def rows_vs(results: dict[str, float], ours: str) -> list[list[str]]:
    return [
        [name, f"{v:,.0f}", f"{v / results[ours]:.2f}x" if name != ours else "1.00x"]
        for name, v in results.items()
    ]


async def bench_l1() -> None:
    ours = MemoryCache()
    cashews = CashewsCache()
    cashews.setup("mem://")
    aio = SimpleMemoryCache()
    ttl = cachetools.TTLCache(maxsize=10_000, ttl=300)
    for k in KEYS:
        await ours.set(k, VALUE, ttl=300)
        await cashews.set(k, VALUE, expire=300)
        await aio.set(k, VALUE, ttl=300)
        ttl[k] = VALUE
    results = {
        "backbeat MemoryCache.get": await ops_per_s(ours.get, N_MEM),
        "cashews mem:// get": await ops_per_s(cashews.get, N_MEM),
        "aiocache SimpleMemoryCache.get": await ops_per_s(aio.get, N_MEM),
        "cachetools TTLCache[k] (sync)": sync_ops_per_s(ttl.__getitem__, N_MEM),
        "backbeat MemoryCache.get_sync": sync_ops_per_s(ours.get_sync, N_MEM),
    }
    print_table(
        "L1 hit (ops/s, higher is better; ratio = peer / backbeat)",
        ["implementation", "ops/s", "vs backbeat"],
        rows_vs(results, "backbeat MemoryCache.get"),
    )
    ratio = results["backbeat MemoryCache.get"] / results["cashews mem:// get"]
    print(
        f"target L1 hit >= 2x cashews mem://: {ratio:.2f}x -> {'met' if ratio >= 2 else 'MISSED'}"
    )
    await cashews.close()


async def bench_l2(client: Redis) -> None:
    l2 = RedisCache(client, prefix=PREFIX)
    tiered = TieredCache(MemoryCache(max_entries=1), l2, coherent=False)
    cashews = CashewsCache()
    cashews.setup(REDIS_URL, client_side=False)
    payload = l2.encode(VALUE)
    for k in KEYS:
        await l2.set(k, VALUE, ttl=300)
        await client.set(PREFIX + "bare:" + k, payload, ex=300)
        await cashews.set(PREFIX + "cashews:" + k, VALUE, expire=300)

    async def bare_get(k: str) -> object:
        return await client.get(PREFIX + "bare:" + k)

    async def bare_set(k: str) -> object:
        return await client.set(PREFIX + "bare:" + k, payload, ex=300)

    async def our_set(k: str) -> None:
        await l2.set(k, VALUE, ttl=300)

    async def cashews_get(k: str) -> object:
        return await cashews.get(PREFIX + "cashews:" + k)

    async def cashews_set(k: str) -> object:
        return await cashews.set(PREFIX + "cashews:" + k, VALUE, expire=300)

    gets = await interleaved(
        {
            "redis-py bare GET": bare_get,
            "backbeat RedisCache.get": l2.get,
            "backbeat TieredCache.get (L2 hit)": tiered.get,
            "cashews redis:// get": cashews_get,
        },
        N_REDIS,
    )
    sets = await interleaved(
        {
            "redis-py bare SET": bare_set,
            "backbeat RedisCache.set": our_set,
            "cashews redis:// set": cashews_set,
        },
        N_REDIS,
    )
    print_table(
        "L2 on Redis, sequential (ops/s; ratio = implementation / bare redis-py)",
        ["implementation", "ops/s", "vs bare"],
        rows_vs(gets, "redis-py bare GET") + rows_vs(sets, "redis-py bare SET"),
    )
    slowdown = gets["redis-py bare GET"] / gets["backbeat TieredCache.get (L2 hit)"]
    verdict = "met" if slowdown <= 1.3 else "MISSED"
    print(f"target tiered get on L2 hit within 1.3x of bare GET: {slowdown:.2f}x -> {verdict}")
    await l2.clear_prefix("")
    await cashews.close()


async def bench_decorator() -> None:
    cashews = CashewsCache()
    cashews.setup("mem://")

    async def fetch(track_id: str) -> dict[str, object]:
        return VALUE

    ours = cached(ttl=300, cache=MemoryCache())(fetch)
    theirs = cashews(ttl=300)(fetch)
    for k in KEYS:
        await ours(k)
        await theirs(k)
    n = N_MEM // 2
    results = {
        "bare call": await ops_per_s(fetch, n),
        "backbeat @cached (memory) hit": await ops_per_s(ours, n),
        "cashews @cache (mem://) hit": await ops_per_s(theirs, n),
    }
    bare = 1 / results["bare call"]
    rows = [
        [name, f"{v:,.0f}", f"{(1 / v - bare) * 1e6:.2f}" if name != "bare call" else "-"]
        for name, v in results.items()
    ]
    print_table("@cached on a hit (calls/s)", ["variant", "calls/s", "overhead us/call"], rows)
    await cashews.close()


async def bench_propagation() -> None:
    a_client, b_client = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
    a = TieredCache(MemoryCache(), RedisCache(a_client, prefix=PREFIX + "prop:"))
    b = TieredCache(MemoryCache(), RedisCache(b_client, prefix=PREFIX + "prop:"))
    await a.start()
    await b.start()
    delays = []
    for i in range(200):
        await a.set("k", i, ttl=60)
        await b.get("k")  # B now holds it in L1
        assert b.l1.get_sync("k") == i
        start = time.perf_counter()
        await a.set("k", i + 1000, ttl=60)
        while b.l1.get_sync("k") is not None:  # noqa: ASYNC110 - measuring this very wait
            await asyncio.sleep(0)
        delays.append(time.perf_counter() - start)
    q = statistics.quantiles(delays, n=100)
    print_table(
        "L1 invalidation propagation via Redis pub/sub (200 writes, one process, two caches)",
        ["p50 ms", "p99 ms", "max ms"],
        [[f"{q[49] * 1e3:.3f}", f"{q[98] * 1e3:.3f}", f"{max(delays) * 1e3:.3f}"]],
    )
    await a.l2.clear_prefix("")
    for c, cl in ((a, a_client), (b, b_client)):
        await c.close()
        await cl.aclose()


async def main() -> None:
    await bench_l1()
    await bench_decorator()
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as e:  # report and skip the Redis sections
        print(f"\nRedis unreachable at {REDIS_URL} ({type(e).__name__}): L2 sections skipped")
        await client.aclose()
        return
    await bench_l2(client)
    await bench_propagation()
    await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
