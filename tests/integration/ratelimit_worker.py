"""Helper process for the cross-process limiter test (run as a script, not collected).

Usage: ratelimit_worker.py REDIS_URL PREFIX ALGORITHM LIMIT HITS
Waits for <PREFIX>go, fires HITS concurrent hits on one key, prints the allowed count.
"""

from __future__ import annotations

import asyncio
import sys

from redis.asyncio import BlockingConnectionPool, Redis

from backbeat.ratelimit import RateLimiter, RedisStore


async def main(url: str, prefix: str, algorithm: str, limit: str, hits: int) -> None:
    client = Redis.from_pool(BlockingConnectionPool.from_url(url, max_connections=50))
    limiter = RateLimiter(limit, store=RedisStore(client), algorithm=algorithm, prefix=prefix)  # type: ignore[arg-type]
    print("ready", flush=True)
    while not await client.exists(f"{prefix}go"):  # noqa: ASYNC110 - the go signal is in Redis
        await asyncio.sleep(0.001)
    decisions = await asyncio.gather(*(limiter.hit("shared") for _ in range(hits)))
    print(sum(d.allowed for d in decisions), flush=True)
    await client.aclose()


if __name__ == "__main__":
    url, prefix, algorithm, limit, hits = sys.argv[1:]
    asyncio.run(main(url, prefix, algorithm, limit, int(hits)))
