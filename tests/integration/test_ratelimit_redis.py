"""The limiter on the real Redis: exactness across tasks and processes, multi-limits."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backbeat.errors import Unavailable
from backbeat.ratelimit import Limit, RateLimiter, RedisStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

WORKER = str(Path(__file__).with_name("ratelimit_worker.py"))
ALGORITHMS = ["gcra", "sliding_window"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_burst_refusal_and_retry_after(
    redis_client: Any, key_prefix: str, algorithm: str
) -> None:
    limiter = RateLimiter(
        "5/min", store=RedisStore(redis_client), algorithm=algorithm, prefix=key_prefix
    )  # type: ignore[arg-type]
    decisions = [await limiter.hit("k") for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    expected_wait = 12.0 if algorithm == "gcra" else 60.0
    assert decisions[-1].retry_after == pytest.approx(expected_wait, abs=0.5)
    await limiter.reset("k")
    assert (await limiter.hit("k")).allowed


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_exact_under_200_concurrent_hitters(
    redis_client: Any, key_prefix: str, algorithm: str
) -> None:
    limiter = RateLimiter(
        "50/min", store=RedisStore(redis_client), algorithm=algorithm, prefix=key_prefix
    )  # type: ignore[arg-type]
    decisions = await asyncio.gather(*(limiter.hit("shared") for _ in range(200)))
    assert sum(d.allowed for d in decisions) == 50


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_multiple_limits_are_atomic(
    redis_client: Any, key_prefix: str, algorithm: str
) -> None:
    limiter = RateLimiter(
        "3/s",
        "4/h",
        store=RedisStore(redis_client),
        algorithm=algorithm,
        prefix=key_prefix,  # type: ignore[arg-type]
    )
    results = [await limiter.hit("k") for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert results[-1].limit == Limit(3, 1)
    await asyncio.sleep(1.05)
    d = await limiter.hit("k")
    assert d.allowed
    assert d.limit == Limit(4, 3600)
    refused = await limiter.hit("k")
    assert not refused.allowed
    assert refused.limit == Limit(4, 3600)
    # The refused request spent nothing from the per-second limit either.
    keys = limiter.keys_for("k")
    assert all(k.startswith(key_prefix + "{k}") for k in keys)


def _spawn_workers(
    url: str, prefix: str, algorithm: str, *, count: int
) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [sys.executable, WORKER, url, prefix, algorithm, "100/min", "200"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_exact_across_4_processes(
    redis_url: str, redis_client: Any, key_prefix: str, algorithm: str
) -> None:
    procs = _spawn_workers(redis_url, key_prefix, algorithm, count=4)
    for p in procs:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "ready"
    await redis_client.set(f"{key_prefix}go", 1)
    total = 0
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        total += int(out.strip())
    assert total == 100  # 800 hits from 4 processes, exactly the limit allowed


async def test_unreachable_redis_fails_closed_or_open() -> None:
    from redis.asyncio import Redis

    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    with pytest.raises(Unavailable):
        await RateLimiter("1/s", store=RedisStore(client)).hit("k")
    assert (await RateLimiter("1/s", store=RedisStore(client), fail_open=True).hit("k")).allowed
    await client.aclose()


async def test_toolkit_rate_limiter_uses_redis_when_configured(
    redis_url: str, tmp_path: Path
) -> None:
    from backbeat import Settings, Toolkit
    from backbeat.ratelimit import MemoryStore

    settings = Settings.from_env({"REDIS_URL": redis_url, "BACKBEAT_DATA_DIR": str(tmp_path)})
    async with Toolkit(settings) as tk:
        limiter = tk.rate_limiter("2/min")
        assert isinstance(limiter.store, RedisStore)
        key = f"toolkit-{id(limiter)}"
        assert (await limiter.hit(key)).allowed
        await limiter.reset(key)
    async with Toolkit(Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path)})) as tk:
        assert isinstance(tk.rate_limiter("1/s").store, MemoryStore)
