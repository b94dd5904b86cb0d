"""Helper process for cross-process cache tests (run as a script, not collected).

Usage:
  cache_worker.py stampede REDIS_URL PREFIX KEYS CALLERS
      wait for <PREFIX>go, then CALLERS concurrent calls per key of a @cached
      loader that INCRs <PREFIX>loads:<key>; prints "done".
  cache_worker.py watch REDIS_URL PREFIX KEY
      read KEY through a TieredCache (filling L1), print "ready", then poll the
      cache until the value becomes "v2"; print the seconds that took.
"""

from __future__ import annotations

import asyncio
import sys
import time

from redis.asyncio import Redis

from backbeat.cache import MemoryCache, RedisCache, TieredCache, cached


async def stampede(url: str, prefix: str, keys: int, callers: int) -> None:
    client = Redis.from_url(url)
    cache = TieredCache(MemoryCache(), RedisCache(client, prefix=prefix))
    await cache.start()

    @cached(ttl=60, cache=cache, key_prefix="stampede")
    async def load(k: int) -> str:
        await client.incr(f"{prefix}loads:{k}")
        await asyncio.sleep(0.2)  # a slow backend
        return f"value-{k}"

    print("ready", flush=True)
    while not await client.exists(f"{prefix}go"):  # noqa: ASYNC110 - the go signal is in Redis
        await asyncio.sleep(0.001)
    results = await asyncio.gather(*(load(k) for k in range(keys) for _ in range(callers)))
    assert results == [f"value-{k}" for k in range(keys) for _ in range(callers)]
    print("done", flush=True)
    await cache.close()
    await client.aclose()


async def watch(url: str, prefix: str, key: str) -> None:
    client = Redis.from_url(url)
    cache = TieredCache(MemoryCache(), RedisCache(client, prefix=prefix))
    await cache.start()
    assert await cache.get(key) == "v1"
    assert cache.l1.get_sync(key) == "v1"  # now served from L1
    print("ready", flush=True)
    start = time.perf_counter()
    while await cache.get(key) != "v2":
        await asyncio.sleep(0)
        if time.perf_counter() - start > 10:
            print("timeout", flush=True)
            return
    print(f"propagated {time.perf_counter() - start:.6f}", flush=True)
    await cache.close()
    await client.aclose()


if __name__ == "__main__":
    mode, url, prefix, *rest = sys.argv[1:]
    if mode == "stampede":
        asyncio.run(stampede(url, prefix, int(rest[0]), int(rest[1])))
    else:
        asyncio.run(watch(url, prefix, rest[0]))
