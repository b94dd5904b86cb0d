"""Security and rate-limiting costs, next to the bare primitives and peer libraries.

1. AES-256-GCM through ``Keyring`` (random nonce, header, base64url token) vs the
   bare ``cryptography`` call with its own random nonce, 1 KB and 1 MB.
2. argon2id hash time with backbeat's parameters (OWASP minimum).
3. nh3 (``sanitize_html``) vs bleach on the same playlist-description HTML.
4. Rate-limit decisions per second on Redis: our GCRA and sliding window vs the
   ``limits`` library's moving and fixed windows vs a bare redis-py GET (one
   round trip: the floor), sequential and with 64 concurrent callers.
5. In-memory decisions: our GCRA vs ``limits``' memory moving window.

Redis at ``BACKBEAT_BENCH_REDIS_URL`` (default redis://127.0.0.1:6379/15).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import bleach
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from limits import parse
from limits.aio.storage import MemoryStorage as LimitsMemory
from limits.aio.storage import RedisStorage as LimitsRedis
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from redis.asyncio import BlockingConnectionPool, Redis

from _table import best_per_call, print_table
from backbeat.ratelimit import MemoryStore, RateLimiter, RedisStore
from backbeat.security import Keyring, PasswordHasher, sanitize_html

REDIS_URL = os.environ.get("BACKBEAT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")


def bench_aead() -> None:
    ring = Keyring.generate()
    key = os.urandom(32)
    bare = AESGCM(key)
    rows = []
    for size, n in ((1024, 20_000), (1024 * 1024, 60)):
        data = os.urandom(size)
        token = ring.encrypt(data)
        sealed = bare.encrypt(b"\x00" * 12, data, None)

        def ours_enc(k: int, data: bytes = data) -> None:
            for _ in range(k):
                ring.encrypt(data)

        def bare_enc(k: int, data: bytes = data) -> None:
            for _ in range(k):
                bare.encrypt(os.urandom(12), data, None)

        def ours_dec(k: int, token: bytes = token) -> None:
            for _ in range(k):
                ring.decrypt(token)

        def bare_dec(k: int, sealed: bytes = sealed) -> None:
            for _ in range(k):
                bare.decrypt(b"\x00" * 12, sealed, None)

        for op, ours, theirs in (("encrypt", ours_enc, bare_enc), ("decrypt", ours_dec, bare_dec)):
            t_ours, t_bare = best_per_call(ours, n), best_per_call(theirs, n)
            mb = size / 1e6
            rows.append(
                [
                    f"{op} {size // 1024} KB",
                    f"{mb / t_ours:,.0f}",
                    f"{mb / t_bare:,.0f}",
                    f"{t_ours / t_bare:.2f}x",
                ]
            )
    print_table(
        "AES-256-GCM (MB/s; Keyring binary tokens: header + random nonce, vs bare call + nonce)",
        ["operation", "Keyring MB/s", "bare MB/s", "time ratio"],
        rows,
    )


def bench_argon2() -> None:
    ph = PasswordHasher()
    times = []
    for _ in range(10):
        start = time.perf_counter()
        ph.hash("correct horse battery staple")
        times.append(time.perf_counter() - start)
    print_table(
        "argon2id hash (m=19456 KiB, t=2, p=1)",
        ["median ms", "min ms"],
        [[f"{statistics.median(times) * 1e3:.1f}", f"{min(times) * 1e3:.1f}"]],
    )


HTML = (
    "<p>Late-night <b>lo-fi</b> for <i>coding</i> &amp; studying. "
    '<a href="https://open.spotify.com/playlist/37i9dQZF1DX8Uebhn9wzrS">Follow</a> '
    "<img src=x onerror=alert(1)><script>steal()</script>"
    '<a href="javascript:alert(1)">click</a></p>'
) * 4


def bench_sanitize() -> None:
    tags = {"p", "b", "i", "a"}

    def ours(k: int) -> None:
        for _ in range(k):
            sanitize_html(HTML, tags=tags)

    def theirs(k: int) -> None:
        for _ in range(k):
            bleach.clean(HTML, tags=tags, attributes={"a": ["href"]}, strip=True)

    t_ours, t_bleach = best_per_call(ours, 2000), best_per_call(theirs, 300)
    print_table(
        f"HTML sanitising, {len(HTML)}-character description (docs/s)",
        ["library", "docs/s", "speed-up"],
        [
            ["nh3 (sanitize_html)", f"{1 / t_ours:,.0f}", f"{t_bleach / t_ours:.1f}x"],
            ["bleach", f"{1 / t_bleach:,.0f}", "1.0x"],
        ],
    )


async def rate(op: Callable[[], Awaitable[object]], n: int, concurrency: int) -> float:
    async def worker(k: int) -> None:
        for _ in range(k):
            await op()

    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        await asyncio.gather(*(worker(n // concurrency) for _ in range(concurrency)))
        best = max(best, n / (time.perf_counter() - start))
    return best


async def bench_redis_limiter() -> None:
    prefix = f"bbbench:{uuid.uuid4().hex[:8]}:"
    client = Redis.from_pool(BlockingConnectionPool.from_url(REDIS_URL, max_connections=100))
    try:
        await client.ping()
    except Exception as e:  # report and skip this section
        print(f"\nRedis unreachable at {REDIS_URL} ({type(e).__name__}): limiter section skipped")
        return
    store = RedisStore(client)
    huge = "1000000000/hour"  # never refuses: every call is a full decision
    gcra = RateLimiter(huge, store=store, prefix=prefix)
    window = RateLimiter("1000000/hour", store=store, algorithm="sliding_window", prefix=prefix)
    lim_storage = LimitsRedis(
        REDIS_URL.replace("redis://", "async+redis://"),
        implementation="redispy",
        key_prefix=prefix + "limits",
    )
    moving, fixed = MovingWindowRateLimiter(lim_storage), FixedWindowRateLimiter(lim_storage)
    item_big, item_window = parse(huge), parse("1000000/hour")
    await client.set(prefix + "get", b"1")
    ops: dict[str, Callable[[], Awaitable[object]]] = {
        "redis-py bare GET (floor)": lambda: client.get(prefix + "get"),
        "backbeat GCRA (Redis)": lambda: gcra.hit("k"),
        "limits fixed window": lambda: fixed.hit(item_big, "k"),
        "backbeat sliding window (Redis)": lambda: window.hit("w"),
        "limits moving window": lambda: moving.hit(item_window, "m"),
    }
    results: dict[str, list[float]] = {name: [] for name in ops}
    for name, op in ops.items():
        results[name].append(await rate(op, 2000, 1))
        results[name].append(await rate(op, 6400, 64))
    floor = results["redis-py bare GET (floor)"]
    rows = [
        [name, f"{seq:,.0f}", f"{floor[0] / seq:.2f}x", f"{conc:,.0f}", f"{floor[1] / conc:.2f}x"]
        for name, (seq, conc) in results.items()
    ]
    print_table(
        "Rate-limit decisions on Redis (decisions/s; 'x floor' = time vs a bare GET)",
        ["implementation", "sequential", "x floor", "64 concurrent", "x floor"],
        rows,
    )
    ours_seq = results["backbeat GCRA (Redis)"][0]
    fixed_seq = results["limits fixed window"][0]
    print(
        f"target GCRA sequential within 1.2x of bare GET: {floor[0] / ours_seq:.2f}x -> "
        f"{'met' if floor[0] / ours_seq <= 1.2 else 'MISSED'}"
    )
    print(
        f"target GCRA at least as fast as limits' fixed window: {ours_seq / fixed_seq:.2f}x -> "
        f"{'met' if ours_seq >= fixed_seq else 'MISSED'}"
    )
    keys = [k async for k in client.scan_iter(match=prefix + "*")]
    keys += [k async for k in client.scan_iter(match="*" + prefix + "*")]
    if keys:
        await client.delete(*set(keys))
    await client.aclose()


async def bench_memory_limiter() -> None:
    ours = RateLimiter("1000000000/hour", store=MemoryStore())
    theirs = MovingWindowRateLimiter(LimitsMemory())
    item = parse("1000000/hour")
    n = 20_000
    ours_rate = await rate(lambda: ours.hit("k"), n, 1)
    theirs_rate = await rate(lambda: theirs.hit(item, "k"), n, 1)
    print_table(
        "In-memory decisions (decisions/s, async API on both sides)",
        ["implementation", "decisions/s", "vs limits"],
        [
            ["backbeat GCRA (memory)", f"{ours_rate:,.0f}", f"{ours_rate / theirs_rate:.1f}x"],
            ["limits moving window (memory)", f"{theirs_rate:,.0f}", "1.0x"],
        ],
    )
    print(
        f"target memory limiter >= 2x limits' memory moving window: "
        f"{ours_rate / theirs_rate:.1f}x -> {'met' if ours_rate >= 2 * theirs_rate else 'MISSED'}"
    )


async def main() -> None:
    bench_aead()
    bench_argon2()
    bench_sanitize()
    await bench_memory_limiter()
    await bench_redis_limiter()


if __name__ == "__main__":
    asyncio.run(main())
