from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from backbeat.errors import RateLimited, Unavailable, ValidationError
from backbeat.ratelimit import (
    Limit,
    MemoryStore,
    Policy,
    RateLimiter,
    RateLimitMiddleware,
    api_key_or_ip,
    gcra_decide,
)

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("spec", "count", "period"),
    [
        ("10/s", 10, 1),
        ("1000/hour", 1000, 3600),
        ("5 per minute", 5, 60),
        ("3/10m", 3, 600),
        ("7/day", 7, 86400),
    ],
)
async def test_parse(spec: str, count: int, period: float) -> None:
    assert Limit.parse(spec) == Limit(count, period)


@pytest.mark.parametrize("bad", ["ten per second", "10/fortnight", "0/s", "", "10"])
async def test_parse_rejects(bad: str) -> None:
    with pytest.raises(ValidationError):
        Limit.parse(bad)


@pytest.mark.parametrize("algorithm", ["gcra", "sliding_window"])
async def test_burst_up_to_count_then_refused_with_retry_after(algorithm: str) -> None:
    clock = Clock()
    limiter = RateLimiter("5/10s", store=MemoryStore(clock=clock), algorithm=algorithm)  # type: ignore[arg-type]
    decisions = [await limiter.hit("k") for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    refused = decisions[-1]
    assert refused.retry_after == pytest.approx(2.0 if algorithm == "gcra" else 10.0)
    with pytest.raises(RateLimited):
        refused.raise_for_limit()
    clock.now += refused.retry_after
    assert (await limiter.hit("k")).allowed


async def test_gcra_sustained_rate() -> None:
    clock = Clock()
    limiter = RateLimiter("10/s", store=MemoryStore(clock=clock))
    for _ in range(10):
        assert (await limiter.hit("k")).allowed
    allowed = 0
    for _ in range(100):  # 10 seconds at 100 req/s
        clock.now += 0.1
        allowed += (await limiter.hit("k")).allowed
        allowed += (await limiter.hit("k")).allowed
    assert allowed == 100  # exactly the sustained 10/s


async def test_keys_are_independent() -> None:
    limiter = RateLimiter("1/s", store=MemoryStore(clock=Clock()))
    assert (await limiter.hit("a")).allowed
    assert (await limiter.hit("b")).allowed
    assert not (await limiter.hit("a")).allowed


@pytest.mark.parametrize("algorithm", ["gcra", "sliding_window"])
async def test_multiple_limits_refusal_spends_nothing(algorithm: str) -> None:
    clock = Clock()
    limiter = RateLimiter("2/s", "3/h", store=MemoryStore(clock=clock), algorithm=algorithm)  # type: ignore[arg-type]
    assert (await limiter.hit("k")).allowed
    assert (await limiter.hit("k")).allowed
    d = await limiter.hit("k")
    assert not d.allowed
    assert d.limit == Limit(2, 1)
    clock.now += 1
    d = await limiter.hit("k")
    assert d.allowed
    assert d.limit == Limit(3, 3600)  # the tightest is now the hourly one
    assert d.remaining == 0
    clock.now += 1
    d = await limiter.hit("k")
    assert not d.allowed
    assert d.limit == Limit(3, 3600)


async def test_cost() -> None:
    limiter = RateLimiter("10/s", store=MemoryStore(clock=Clock()))
    assert (await limiter.hit("k", cost=7)).remaining == 3
    assert not (await limiter.hit("k", cost=4)).allowed
    assert (await limiter.hit("k", cost=3)).allowed
    with pytest.raises(ValidationError):
        await limiter.hit("k", cost=11)


async def test_reset() -> None:
    limiter = RateLimiter("1/h", store=MemoryStore(clock=Clock()))
    await limiter.hit("k")
    assert not (await limiter.hit("k")).allowed
    await limiter.reset("k")
    assert (await limiter.hit("k")).allowed


async def test_exact_under_200_concurrent_hitters() -> None:
    limiter = RateLimiter("50/min")
    allowed = 0

    async def hitter() -> None:
        nonlocal allowed
        await anyio.lowlevel.checkpoint()
        allowed += (await limiter.hit("shared")).allowed

    async with anyio.create_task_group() as tg:
        for _ in range(200):
            tg.start_soon(hitter)
    assert allowed == 50


def test_gcra_is_a_pure_function() -> None:
    lim = [Limit(2, 1)]
    tats, d1 = gcra_decide([None], lim, now=0.0)
    assert tats == [0.5]
    tats2, d2 = gcra_decide(tats, lim, now=0.0)
    assert tats2 == [1.0]
    assert (d1.remaining, d2.remaining) == (1, 0)
    none, d3 = gcra_decide(tats2, lim, now=0.0)
    assert none is None
    assert d3.retry_after == 0.5


class DownStore(MemoryStore):
    async def gcra(self, *a: object, **k: object) -> object:  # type: ignore[override]
        raise Unavailable("ratelimit.unavailable")


async def test_fail_open_and_fail_closed(caplog: pytest.LogCaptureFixture) -> None:
    closed = RateLimiter("1/s", store=DownStore())
    with pytest.raises(Unavailable):
        await closed.hit("k")
    opened = RateLimiter("1/s", store=DownStore(), fail_open=True)
    for _ in range(5):
        assert (await opened.hit("k")).allowed
    assert sum("failing open" in r.getMessage() for r in caplog.records) == 1


# -- middleware --------------------------------------------------------------------


def _client(*policies: Policy) -> TestClient:
    app = FastAPI()

    @app.get("/v1/tracks")
    async def tracks() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    app.add_middleware(RateLimitMiddleware, policies=policies)
    return TestClient(app)


def test_middleware_headers_and_429() -> None:
    client = _client(Policy(RateLimiter("2/min"), path_prefix="/v1/"))
    first = client.get("/v1/tracks")
    assert first.status_code == 200
    assert first.headers["RateLimit-Limit"] == "2"
    assert first.headers["RateLimit-Remaining"] == "1"
    assert first.headers["RateLimit-Policy"] == "2;w=60"
    assert int(first.headers["RateLimit-Reset"]) > 0
    client.get("/v1/tracks")
    refused = client.get("/v1/tracks")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 29
    assert refused.json()["error"]["code"] == "ratelimit.exceeded"
    assert client.get("/health").status_code == 200  # no policy for this route


def test_middleware_per_api_key_policy() -> None:
    client = _client(Policy(RateLimiter("1/min"), key=api_key_or_ip()))
    assert client.get("/v1/tracks", headers={"X-API-Key": "a"}).status_code == 200
    assert client.get("/v1/tracks", headers={"X-API-Key": "b"}).status_code == 200
    assert client.get("/v1/tracks", headers={"X-API-Key": "a"}).status_code == 429


def test_middleware_503_when_failing_closed() -> None:
    client = _client(Policy(RateLimiter("1/s", store=DownStore())))
    r = client.get("/v1/tracks")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "ratelimit.unavailable"


async def test_memory_store_forgets_keys_whose_state_expired() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    gcra = RateLimiter("5/s", store=store)
    window = RateLimiter("5/s", store=store, algorithm="sliding_window")
    for i in range(5000):
        await gcra.hit(f"g{i}")
        await window.hit(f"w{i}")
    clock.now += 10
    for _ in range(10_000):  # enough operations to trigger the amortised sweep
        await gcra.hit("live")
        clock.now += 0.001
    assert len(store._tats) < 10
    assert len(store._logs) < 10
