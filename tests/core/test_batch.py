from __future__ import annotations

import threading

import anyio
import anyio.lowlevel
import pytest

from backbeat.core import DataProcessor, batch_transform
from backbeat.errors import ValidationError

pytestmark = pytest.mark.anyio


async def test_sync_function_results_line_up_with_input() -> None:
    result = await batch_transform(range(250), lambda x: x + 1, batch_size=100)
    assert result.results == [x + 1 for x in range(250)]
    assert result.ok
    assert result.succeeded == 250


async def test_sync_function_runs_off_the_event_loop_thread() -> None:
    loop_thread = threading.get_ident()
    seen: set[int] = set()

    def work(x: int) -> int:
        seen.add(threading.get_ident())
        return x

    await batch_transform(range(10), work, batch_size=5)
    assert loop_thread not in seen


async def test_async_function_and_seed_alias() -> None:
    async def work(x: int) -> int:
        await anyio.lowlevel.checkpoint()
        return x * 2

    result = await DataProcessor.batch_transform(list(range(30)), work, batch_size=7)
    assert result.results == [x * 2 for x in range(30)]


async def test_async_in_flight_is_bounded_by_batch_size_times_concurrency() -> None:
    current = peak = 0

    async def work(x: int) -> int:
        nonlocal current, peak
        current += 1
        peak = max(peak, current)
        await anyio.sleep(0.001)
        current -= 1
        return x

    await batch_transform(range(60), work, batch_size=5, concurrency=3)
    assert peak == 15


async def test_collect_reports_every_failure_with_its_index() -> None:
    def work(x: int) -> int:
        if x in (3, 17):
            raise ValueError(f"bad {x}")
        return x

    result = await batch_transform(range(20), work, batch_size=4, on_error="collect")
    assert not result.ok
    assert [(f.index, f.item, f.code) for f in result.failures] == [
        (3, 3, "ValueError"),
        (17, 17, "ValueError"),
    ]
    assert result.results[3] is None
    assert result.results[4] == 4
    assert dict(result.successes())[19] == 19
    assert result.succeeded == 18
    with pytest.raises(ValueError, match="bad 3"):
        result.raise_for_failures()


async def test_collect_with_async_function_and_our_error_codes() -> None:
    async def work(x: int) -> int:
        if x == 1:
            raise ValidationError("validation.spotify_id")
        return x

    result = await batch_transform([0, 1, 2], work, on_error="collect")
    assert [f.code for f in result.failures] == ["validation.spotify_id"]


async def test_raise_stops_at_the_first_failure_and_names_the_item() -> None:
    calls: list[int] = []

    def work(x: int) -> int:
        calls.append(x)
        if x == 5:
            raise ValueError("bad")
        return x

    with pytest.raises(ValueError, match="bad") as info:
        await batch_transform(range(100), work, batch_size=10)
    assert "item 5" in " ".join(info.value.__notes__)
    assert max(calls) < 10


async def test_progress_after_each_batch() -> None:
    seen: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    await batch_transform(range(25), str, batch_size=10, on_progress=progress)
    assert seen == [(10, 25), (20, 25), (25, 25)]


async def test_empty_input() -> None:
    result = await batch_transform([], str)
    assert result.results == []
    assert result.ok


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"concurrency": 0}, {"on_error": "x"}])
async def test_invalid_options(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        await batch_transform([1], str, **kwargs)  # type: ignore[arg-type]
