from __future__ import annotations

import itertools
import time

import anyio
import pytest

from backbeat.core import gather_bounded, map_bounded
from backbeat.errors import OperationTimeout, ValidationError

pytestmark = pytest.mark.anyio


class Gauge:
    """Counts calls in flight and remembers the highest count."""

    def __init__(self) -> None:
        self.current = 0
        self.peak = 0
        self.started: list[int] = []

    async def work(self, x: int) -> int:
        self.current += 1
        self.peak = max(self.peak, self.current)
        self.started.append(x)
        try:
            await anyio.sleep(0.001 * (x % 3))
            return x * x
        finally:
            self.current -= 1


@pytest.mark.parametrize("limit", [1, 3, 10])
async def test_never_more_than_limit_in_flight_and_results_in_order(limit: int) -> None:
    gauge = Gauge()
    results = await map_bounded(gauge.work, range(50), limit=limit)
    assert results == [x * x for x in range(50)]
    assert gauge.peak == limit


async def test_fewer_items_than_limit() -> None:
    gauge = Gauge()
    assert await map_bounded(gauge.work, [2, 3], limit=10) == [4, 9]
    assert await map_bounded(gauge.work, [], limit=10) == []


async def test_first_error_is_raised_as_itself_and_the_rest_never_start() -> None:
    started: list[int] = []

    async def work(x: int) -> int:
        started.append(x)
        if x == 2:
            raise KeyError("bad item")
        await anyio.sleep(0.01)
        return x

    with pytest.raises(KeyError, match="bad item"):
        await map_bounded(work, range(100), limit=3)
    assert len(started) < 10


async def test_return_exceptions_keeps_going() -> None:
    async def work(x: int) -> int:
        if x % 2:
            raise ValueError(x)
        return x

    results = await map_bounded(work, range(4), limit=2, return_exceptions=True)
    assert results[0] == 0
    assert results[2] == 2
    assert isinstance(results[1], ValueError)
    assert isinstance(results[3], ValueError)


async def test_per_item_timeout_cancels_only_the_late_item() -> None:
    async def work(x: int) -> int:
        await anyio.sleep(10 if x == 1 else 0)
        return x

    results = await map_bounded(work, range(3), limit=3, timeout=0.05, return_exceptions=True)
    assert results[0] == 0
    assert results[2] == 2
    assert isinstance(results[1], OperationTimeout)
    assert results[1].details["index"] == 1


async def test_timeout_raises_when_not_collecting() -> None:
    async def slow(x: int) -> int:
        await anyio.sleep(10)
        return x

    with pytest.raises(OperationTimeout):
        await map_bounded(slow, [1], limit=1, timeout=0.01)


async def test_rate_spaces_call_starts() -> None:
    stamps: list[float] = []

    async def work(x: int) -> int:
        stamps.append(time.monotonic())
        return x

    await map_bounded(work, range(5), limit=5, rate=50)  # 20 ms apart
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert sum(gaps) >= 4 * 0.02 * 0.9


async def test_outer_cancellation_stops_everything() -> None:
    gauge = Gauge()

    async def slow(x: int) -> int:
        gauge.current += 1
        try:
            await anyio.sleep(10)
        finally:
            gauge.current -= 1
        return x

    with anyio.move_on_after(0.05):
        await map_bounded(slow, range(20), limit=4)
    assert gauge.current == 0


async def test_gather_bounded_runs_awaitables_in_order() -> None:
    gauge = Gauge()
    results = await gather_bounded(*(gauge.work(i) for i in range(20)), limit=4)
    assert results == [i * i for i in range(20)]
    assert gauge.peak <= 4


async def test_gather_bounded_closes_coroutines_that_never_started() -> None:
    async def boom() -> None:
        raise RuntimeError("boom")

    async def never() -> None:
        await anyio.sleep(10)

    coros = [boom(), *(never() for _ in range(5))]
    with pytest.raises(RuntimeError):
        await gather_bounded(*coros, limit=1)
    # Unstarted coroutines were closed: awaiting them again is impossible, and no
    # "never awaited" RuntimeWarning escapes (warnings are errors in this suite).
    for c in coros[1:]:
        with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
            c.send(None)


async def test_gather_bounded_return_exceptions() -> None:
    async def ok() -> int:
        return 1

    async def bad() -> int:
        raise ValueError

    results = await gather_bounded(ok(), bad(), limit=2, return_exceptions=True)
    assert results[0] == 1
    assert isinstance(results[1], ValueError)


@pytest.mark.parametrize(
    "kwargs", [{"limit": 0}, {"limit": 1, "rate": 0}, {"limit": 1, "timeout": -1}]
)
async def test_invalid_options(kwargs: dict[str, float]) -> None:
    async def f(x: int) -> int:
        return x

    with pytest.raises(ValidationError):
        await map_bounded(f, [1], **kwargs)  # type: ignore[arg-type]
