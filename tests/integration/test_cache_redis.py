"""The cache against the real Redis: round trips, tags, stampedes, coherence, outages."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backbeat import Settings, Toolkit
from backbeat.cache import MemoryCache, RedisCache, TieredCache, cached
from tests.cache.test_serializers import SAMPLES

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

WORKER = str(Path(__file__).with_name("cache_worker.py"))


@pytest.fixture
async def l2(redis_client: Any, key_prefix: str) -> RedisCache:
    return RedisCache(redis_client, prefix=key_prefix)


@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: type(v).__name__)
async def test_every_supported_type_round_trips(l2: RedisCache, value: Any) -> None:
    await l2.set("v", value, ttl=60)
    out = await l2.get("v")
    assert out == value
    assert type(out) is type(value)


async def test_numpy_array_round_trips(l2: RedisCache) -> None:
    arr = np.linspace(0, 1, 1000, dtype=np.float32)
    await l2.set("emb", arr)
    assert np.array_equal(await l2.get("emb"), arr)


async def test_miss_is_none_and_delete_reports(l2: RedisCache) -> None:
    assert await l2.get("absent") is None
    await l2.set("k", 1)
    assert await l2.delete("k") is True
    assert await l2.delete("k") is False


async def test_ttl_is_set_in_redis(l2: RedisCache, redis_client: Any) -> None:
    await l2.set("t", "x", ttl=30)
    pttl = await redis_client.pttl(l2.full_key("t"))
    assert 29_000 < pttl <= 30_000
    await l2.set("forever", "x", ttl=0)
    assert await redis_client.pttl(l2.full_key("forever")) == -1


async def test_many_operations(l2: RedisCache) -> None:
    await l2.set_many({"a": 1, "b": [2], "c": None}, ttl=60)
    assert await l2.get_many(["a", "b", "zz"]) == {"a": 1, "b": [2]}
    assert await l2.delete_many(["a", "b", "zz"]) == 2


async def test_tags(l2: RedisCache, redis_client: Any) -> None:
    await l2.set_many({"t1": 1, "t2": 2}, ttl=60, tags=["artist:1"])
    await l2.set("t3", 3, ttl=120, tags=["artist:1", "album:9"])
    await l2.set("other", 4, tags=["artist:2"])
    tag_ttl = await redis_client.pttl(f"{l2.prefix}__tag__:artist:1")
    assert 119_000 < tag_ttl <= 120_000  # lives as long as its longest member
    assert await l2.invalidate_tags(["artist:1"]) == 3
    assert await l2.get_many(["t1", "t2", "t3", "other"]) == {"other": 4}


async def test_clear_prefix_scans_only_its_prefix(l2: RedisCache) -> None:
    await l2.set_many({f"track:{i}": i for i in range(2500)})
    await l2.set("track*:glob", 1)
    await l2.set("album:1", 1)
    assert await l2.clear_prefix("track:") == 2500
    assert await l2.get("track*:glob") == 1
    assert await l2.get("album:1") == 1


async def test_incr_with_ttl_and_reads_as_int(l2: RedisCache, redis_client: Any) -> None:
    assert await l2.incr("plays", ttl=60) == 1
    assert await l2.incr("plays", 4) == 5
    assert await l2.get("plays") == 5
    assert 0 < await redis_client.pttl(l2.full_key("plays")) <= 60_000


async def test_large_values_are_compressed(l2: RedisCache, redis_client: Any) -> None:
    big = "la " * 10_000
    await l2.set("big", big)
    raw = await redis_client.get(l2.full_key("big"))
    assert raw[0] & 0x01
    assert len(raw) < len(big) / 10
    assert await l2.get("big") == big


async def test_corrupt_entry_is_a_miss_and_is_deleted(
    l2: RedisCache, redis_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await redis_client.set(l2.full_key("bad"), b"\x00\xc1garbage")
    await redis_client.set(l2.full_key("bad2"), b"not an int")
    with caplog.at_level(logging.WARNING):
        assert await l2.get("bad") is None
        assert await l2.get_many(["bad2"]) == {}
    assert not await redis_client.exists(l2.full_key("bad"), l2.full_key("bad2"))
    assert "undecodable" in caplog.text


async def test_long_and_unicode_keys(l2: RedisCache) -> None:
    await l2.set("ключ-🎵" * 100, 1)
    assert await l2.get("ключ-🎵" * 100) == 1


async def test_lock_is_exclusive_and_only_its_owner_releases(l2: RedisCache) -> None:
    token = await l2.acquire_lock("k", timeout=5)
    assert token
    assert await l2.acquire_lock("k", timeout=5) is None
    assert await l2.release_lock("k", "not-the-token") is False
    assert await l2.lock_held("k")
    assert await l2.release_lock("k", token) is True
    assert not await l2.lock_held("k")


# -- tiered -----------------------------------------------------------------------


@pytest.fixture
async def tiered(redis_client: Any, key_prefix: str) -> Any:
    cache = TieredCache(MemoryCache(), RedisCache(redis_client, prefix=key_prefix))
    await cache.start()
    yield cache
    await cache.close()


async def test_l2_hit_fills_l1_with_the_remaining_ttl(tiered: TieredCache) -> None:
    await tiered.l2.set("k", "v", ttl=2)
    assert tiered.l1.get_sync("k") is None
    assert await tiered.get("k") == "v"
    assert tiered.l1.get_sync("k") == "v"
    entry = tiered.l1._data["k"]
    assert entry.expires_at - time.monotonic() <= 2.0


async def test_tiered_writes_reach_both_levels(tiered: TieredCache) -> None:
    await tiered.set_many({"a": 1, "b": 2}, ttl=60, tags=["g"])
    assert await tiered.l2.get("a") == 1
    assert tiered.l1.get_sync("a") == 1
    assert await tiered.invalidate_tags(["g"]) == 2
    assert await tiered.get_many(["a", "b"]) == {}
    assert await tiered.incr("n") == 1
    assert await tiered.incr("n") == 2


async def test_thousand_concurrent_callers_one_loader_call_on_redis(tiered: TieredCache) -> None:
    calls = 0

    @cached(ttl=60, cache=tiered)
    async def slow(k: str) -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return k

    results = await asyncio.gather(*(slow("x") for _ in range(1000)))
    assert calls == 1
    assert set(results) == {"x"}


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, WORKER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(proc: subprocess.Popen[str]) -> None:
    _, err = proc.communicate(timeout=30)  # also closes the pipes
    assert proc.returncode == 0, err


def _expect(proc: subprocess.Popen[str], word: str) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(word):
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"worker said {line!r}, stderr:\n{err}")
    return line


async def test_stampede_across_two_processes_loads_once_per_key(
    redis_url: str, redis_client: Any, key_prefix: str
) -> None:
    keys, callers = 5, 500  # 2 processes x 5 keys x 500 callers = 5,000 calls
    procs = [_spawn("stampede", redis_url, key_prefix, str(keys), str(callers)) for _ in range(2)]
    for p in procs:
        _expect(p, "ready")
    await redis_client.set(f"{key_prefix}go", 1)
    for p in procs:
        _expect(p, "done")
        _finish(p)
    loads = [int(await redis_client.get(f"{key_prefix}loads:{k}") or 0) for k in range(keys)]
    assert loads == [1] * keys


async def test_invalidation_reaches_a_second_process(
    redis_url: str, key_prefix: str, tiered: TieredCache
) -> None:
    await tiered.set("song", "v1", ttl=60)
    proc = _spawn("watch", redis_url, key_prefix, "song")
    _expect(proc, "ready")
    await tiered.set("song", "v2", ttl=60)
    line = _expect(proc, "propagated")
    _finish(proc)
    assert float(line.split()[1]) < 5


# -- outage --------------------------------------------------------------------------


async def test_cache_keeps_serving_from_l1_when_redis_goes_away_and_recovers(
    private_redis: tuple[int, Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    port, start, stop = private_redis
    from redis.asyncio import Redis

    client = Redis.from_url(
        f"redis://127.0.0.1:{port}/0", socket_connect_timeout=0.5, socket_timeout=0.5
    )
    cache = TieredCache(MemoryCache(), RedisCache(client), retry_interval=0.2)
    await cache.start()
    loads = 0

    @cached(ttl=60, cache=cache)
    async def load(k: str) -> str:
        nonlocal loads
        loads += 1
        return f"fresh-{k}"

    await cache.set("warm", "from-l1", ttl=60)
    stop()
    with caplog.at_level(logging.WARNING, logger="backbeat.cache._tiered"):
        for _ in range(50):
            assert await cache.get("warm") == "from-l1"  # L1 still answers
            assert await cache.get("cold") is None
        assert cache.state == "degraded"
        assert await load("a") == "fresh-a"  # loaders still run
        assert await load("a") == "fresh-a"  # and their results are kept in L1
        assert loads == 1
    unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(unreachable) == 1  # logged once per outage, not per call

    start()
    deadline = time.monotonic() + 10
    while cache.state != "healthy":
        assert time.monotonic() < deadline, "cache did not reconnect"
        await cache.set("probe", 1)
        await asyncio.sleep(0.05)
    assert await cache.l2.get("probe") == 1
    await cache.close()
    await client.aclose()


async def test_toolkit_cache_is_tiered_with_redis_url(redis_url: str, tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"REDIS_URL": redis_url, "CACHE_TTL_DEFAULT": "42", "BACKBEAT_DATA_DIR": str(tmp_path)}
    )
    async with Toolkit(settings) as tk:
        cache = tk.cache
        assert isinstance(cache, TieredCache)
        assert cache.default_ttl == 42
        await cache.set("toolkit-check", 1)
        assert await cache.get("toolkit-check") == 1
        await cache.delete("toolkit-check")
        report = await tk.health()
        assert {b.name: b.status for b in report.backends}["cache"] == "ok"


async def test_toolkit_cache_is_memory_without_redis_url(tmp_path: Path) -> None:
    async with Toolkit(Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path)})) as tk:
        assert isinstance(tk.cache, MemoryCache)
        assert tk.cache.default_ttl == 300
