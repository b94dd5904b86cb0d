from __future__ import annotations

import pytest

from backbeat.cache import MAX_KEY_LENGTH, MemoryCache, estimate_size, normalize_key
from backbeat.errors import CacheError

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_get_returns_none_on_a_miss_and_the_value_on_a_hit() -> None:
    c = MemoryCache()
    assert await c.get("k") is None
    await c.set("k", {"a": 1}, ttl=60)
    assert await c.get("k") == {"a": 1}
    assert c.stats.hits == 1
    assert c.stats.misses == 1


async def test_ttl_expires_entries() -> None:
    clock = Clock()
    c = MemoryCache(clock=clock)
    await c.set("k", 1, ttl=10)
    clock.now = 9.99
    assert await c.get("k") == 1
    clock.now = 10.0
    assert await c.get("k") is None
    assert c.stats.expirations == 1
    assert len(c) == 0


async def test_default_ttl_and_zero_means_forever() -> None:
    clock = Clock()
    c = MemoryCache(default_ttl=5, clock=clock)
    await c.set("default", 1)
    await c.set("forever", 2, ttl=0)
    clock.now = 1e9
    assert await c.get("default") is None
    assert await c.get("forever") == 2


async def test_lru_eviction_by_entry_count() -> None:
    c = MemoryCache(max_entries=3)
    for k in "abc":
        await c.set(k, k)
    await c.get("a")  # a is now most recently used
    await c.set("d", "d")
    assert await c.get("b") is None
    assert [await c.get(k) for k in "acd"] == ["a", "c", "d"]
    assert c.stats.evictions == 1


async def test_byte_bound_evicts_least_recent_first() -> None:
    c = MemoryCache(max_bytes=1000, sizer=len)
    await c.set("a", b"x" * 400)
    await c.set("b", b"x" * 400)
    await c.set("c", b"x" * 400)
    assert await c.get("a") is None
    assert c.size_bytes == 800


async def test_a_value_larger_than_the_byte_bound_is_not_stored() -> None:
    c = MemoryCache(max_bytes=100, sizer=len)
    await c.set("small", b"x")
    await c.set("huge", b"x" * 101)
    assert await c.get("huge") is None
    assert await c.get("small") == b"x"


async def test_overwrite_replaces_size_and_tags() -> None:
    c = MemoryCache(sizer=len)
    await c.set("k", b"xxxx", tags=["t1"])
    await c.set("k", b"xx", tags=["t2"])
    assert c.size_bytes == 2
    assert await c.invalidate_tags(["t1"]) == 0
    assert await c.invalidate_tags(["t2"]) == 1


async def test_tags_invalidate_every_tagged_key() -> None:
    c = MemoryCache()
    await c.set_many({"a": 1, "b": 2}, tags=["artist:1"])
    await c.set("c", 3, tags=["artist:2"])
    assert await c.invalidate_tags(["artist:1"]) == 2
    assert await c.get_many(["a", "b", "c"]) == {"c": 3}


async def test_clear_prefix() -> None:
    c = MemoryCache()
    await c.set_many({"track:1": 1, "track:2": 2, "album:1": 3})
    assert await c.clear_prefix("track:") == 2
    assert await c.get("album:1") == 3


async def test_delete_and_delete_many() -> None:
    c = MemoryCache()
    await c.set_many({"a": 1, "b": 2, "c": 3})
    assert await c.delete("a") is True
    assert await c.delete("a") is False
    assert await c.delete_many(["b", "c", "zz"]) == 2


async def test_incr_counts_and_refuses_non_integers() -> None:
    clock = Clock()
    c = MemoryCache(clock=clock)
    assert await c.incr("n") == 1
    assert await c.incr("n", 5) == 6
    await c.set("s", "text")
    with pytest.raises(CacheError) as info:
        await c.incr("s")
    assert info.value.code == "cache.not_an_integer"
    assert await c.incr("t", ttl=1) == 1
    clock.now = 2
    assert await c.incr("t") == 1


async def test_falsy_values_are_hits() -> None:
    c = MemoryCache()
    for k, v in {"zero": 0, "empty": "", "false": False, "list": []}.items():
        await c.set(k, v)
        assert await c.get(k) == v


@pytest.mark.parametrize("key", ["a\x00b", "line\nbreak", "\x7f", ""])
async def test_keys_with_control_characters_are_refused(key: str) -> None:
    with pytest.raises(CacheError) as info:
        await MemoryCache().set(key, 1)
    assert info.value.code == "cache.bad_key"


def test_long_keys_are_hashed_and_stay_distinct() -> None:
    a = "x" * 500 + "a"
    b = "x" * 500 + "b"
    assert len(normalize_key(a)) <= MAX_KEY_LENGTH
    assert normalize_key(a) != normalize_key(b)
    assert normalize_key(a) == normalize_key(a)
    assert normalize_key("short") == "short"


async def test_long_keys_round_trip() -> None:
    c = MemoryCache()
    key = "k" * 10_000
    await c.set(key, 1)
    assert await c.get(key) == 1


def test_estimate_size_grows_with_content() -> None:
    assert estimate_size([b"x" * 1000]) > 1000
    assert estimate_size({"k": "v" * 500}) > estimate_size({"k": "v"})


def test_invalid_bounds() -> None:
    with pytest.raises(Exception, match="positive"):
        MemoryCache(max_entries=0)


async def test_membership_checks_expiry_without_touching_stats() -> None:
    clock = Clock()
    c = MemoryCache(clock=clock)
    await c.set("k", 1, ttl=5)
    assert "k" in c
    assert "absent" not in c
    assert 3 not in c
    assert (c.stats.hits, c.stats.misses) == (0, 0)
    clock.now = 6
    assert "k" not in c
