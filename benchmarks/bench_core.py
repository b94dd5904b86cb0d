"""Overhead of ``@retry`` on a call that succeeds the first time, next to tenacity and stamina.

What a decorator costs on the success path is what every wrapped cache loader
and database read pays on every call. Each row times the same trivial function
bare and wrapped, in the same process, best of 5 runs; "overhead" is wrapped
minus bare, and the ratio compares each peer's overhead with ours.
Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_core.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import stamina
import tenacity

from _table import best_per_call, print_table  # benchmarks/ is on sys.path as the script dir
from backbeat.core import retry

N_SYNC = 200_000
N_ASYNC = 100_000


def work(x: int) -> int:
    return x + 1


async def awork(x: int) -> int:
    return x + 1


def sync_loop(fn: Callable[[int], int]) -> Callable[[int], None]:
    def run(n: int) -> None:
        for i in range(n):
            fn(i)

    return run


def async_loop(fn: Callable[[int], Awaitable[int]]) -> Callable[[int], None]:
    async def body(n: int) -> None:
        for i in range(n):
            await fn(i)

    def run(n: int) -> None:
        asyncio.run(body(n))

    return run


def main() -> None:
    stamina.set_active(True)
    sync_variants = {
        "backbeat.retry": retry(max_attempts=3)(work),
        "tenacity.retry": tenacity.retry(stop=tenacity.stop_after_attempt(3))(work),
        "stamina.retry": stamina.retry(on=Exception, attempts=3)(work),
    }
    async_variants = {
        "backbeat.retry": retry(max_attempts=3)(awork),
        "tenacity.retry": tenacity.retry(stop=tenacity.stop_after_attempt(3))(awork),
        "stamina.retry": stamina.retry(on=Exception, attempts=3)(awork),
    }
    for title, variants, bare, loop, n in (
        ("sync def", sync_variants, work, sync_loop, N_SYNC),
        ("async def", async_variants, awork, async_loop, N_ASYNC),
    ):
        base = best_per_call(loop(bare), n)  # type: ignore[arg-type]
        overheads = {name: best_per_call(loop(fn), n) - base for name, fn in variants.items()}
        ours = overheads["backbeat.retry"]
        rows = [["bare call", f"{base * 1e9:,.0f}", "-", "-"]]
        for name, over in overheads.items():
            rows.append(
                [name, f"{(base + over) * 1e9:,.0f}", f"{over * 1e9:,.0f}", f"{over / ours:,.1f}x"]
            )
        print_table(
            f"@retry overhead on first-time success, {title} (best of 5 x {n:,} calls)",
            ["variant", "ns/call", "overhead ns", "overhead vs backbeat"],
            rows,
        )


if __name__ == "__main__":
    main()
