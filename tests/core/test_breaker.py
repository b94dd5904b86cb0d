from __future__ import annotations

import threading

import pytest

from backbeat.core import CircuitBreaker, CircuitState
from backbeat.errors import CircuitOpenError, ValidationError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, **kwargs: object) -> CircuitBreaker:
    options: dict[str, object] = {"failure_threshold": 3, "reset_timeout": 10.0, "clock": clock}
    options.update(kwargs)
    return CircuitBreaker("dep", **options)  # type: ignore[arg-type]


def fail(b: CircuitBreaker, error: Exception | None = None) -> None:
    with pytest.raises(type(error) if error else ConnectionError), b:
        raise error or ConnectionError("down")


def test_starts_closed_and_lets_calls_through() -> None:
    b = breaker(Clock())
    with b:
        pass
    assert b.state is CircuitState.CLOSED


def test_opens_after_threshold_consecutive_failures() -> None:
    b = breaker(Clock())
    fail(b)
    fail(b)
    assert b.state is CircuitState.CLOSED
    assert b.failures == 2
    fail(b)
    assert b.state is CircuitState.OPEN


def test_a_success_resets_the_failure_count() -> None:
    b = breaker(Clock())
    fail(b)
    fail(b)
    with b:
        pass
    fail(b)
    assert b.state is CircuitState.CLOSED


def test_open_circuit_refuses_without_calling() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        fail(b)
    clock.now += 4
    calls = []
    with pytest.raises(CircuitOpenError) as info:
        b(lambda: calls.append(1))()
    assert calls == []
    assert info.value.retry_after == pytest.approx(6.0)
    assert b.retry_after() == pytest.approx(6.0)


def test_half_open_after_timeout_then_closes_on_success() -> None:
    clock, changes = Clock(), []
    b = breaker(clock, on_state_change=lambda old, new: changes.append((old, new)))
    for _ in range(3):
        fail(b)
    clock.now += 10
    assert b.state is CircuitState.HALF_OPEN
    with b:
        pass
    assert b.state is CircuitState.CLOSED
    assert changes == [
        (CircuitState.CLOSED, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.HALF_OPEN),
        (CircuitState.HALF_OPEN, CircuitState.CLOSED),
    ]


def test_half_open_failure_reopens_with_a_fresh_timeout() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        fail(b)
    clock.now += 10
    fail(b)
    assert b.state is CircuitState.OPEN
    assert b.retry_after() == pytest.approx(10.0)


def test_half_open_admits_only_the_allowed_trials() -> None:
    clock = Clock()
    b = breaker(clock, half_open_max_calls=1)
    for _ in range(3):
        fail(b)
    clock.now += 10
    with b:
        # A second caller while the trial is in flight is refused.
        with pytest.raises(CircuitOpenError), b:
            pass
        assert b.state is CircuitState.HALF_OPEN
    assert b.state is CircuitState.CLOSED


def test_success_threshold_needs_several_successes() -> None:
    clock = Clock()
    b = breaker(clock, success_threshold=2, half_open_max_calls=2)
    for _ in range(3):
        fail(b)
    clock.now += 10
    with b:
        pass
    assert b.state is CircuitState.HALF_OPEN
    with b:
        pass
    assert b.state is CircuitState.CLOSED


def test_bad_input_does_not_trip_the_breaker() -> None:
    b = breaker(Clock())
    for _ in range(5):
        fail(b, ValidationError())
    assert b.state is CircuitState.CLOSED


def test_failure_on_selects_what_counts() -> None:
    b = breaker(Clock(), failure_on=TimeoutError)
    for _ in range(5):
        fail(b, ConnectionError())
    assert b.state is CircuitState.CLOSED
    for _ in range(3):
        fail(b, TimeoutError())
    assert b.state is CircuitState.OPEN


def test_a_slow_call_from_before_the_opening_does_not_close_it() -> None:
    clock = Clock()
    b = breaker(clock)
    with b:  # started while closed...
        for _ in range(3):
            fail(b)
        assert b.state is CircuitState.OPEN
    # ...and its success, arriving late, is ignored.
    assert b.state is CircuitState.OPEN


def test_reset_closes() -> None:
    b = breaker(Clock())
    for _ in range(3):
        fail(b)
    b.reset()
    assert b.state is CircuitState.CLOSED


def test_decorator_on_sync_functions() -> None:
    b = breaker(Clock())

    @b
    def double(x: int) -> int:
        return 2 * x

    assert double(4) == 8
    assert double.__name__ == "double"


@pytest.mark.anyio
async def test_decorator_and_context_manager_on_async_code() -> None:
    clock = Clock()
    b = breaker(clock)

    @b
    async def down() -> None:
        raise ConnectionError

    for _ in range(3):
        with pytest.raises(ConnectionError):
            await down()
    with pytest.raises(CircuitOpenError):
        await down()
    clock.now += 10
    async with b:
        pass
    assert b.state is CircuitState.CLOSED


def test_threads_share_one_consistent_state() -> None:
    b = CircuitBreaker("t", failure_threshold=1000, reset_timeout=60)
    barrier = threading.Barrier(8)

    def hammer() -> None:
        barrier.wait()
        for _ in range(100):
            with pytest.raises(ConnectionError), b:
                raise ConnectionError

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 800 failures counted exactly: the 1000th would have opened it.
    assert b.failures == 800
    assert b.state is CircuitState.CLOSED


@pytest.mark.parametrize(
    "kwargs", [{"failure_threshold": 0}, {"reset_timeout": -1}, {"half_open_max_calls": 0}]
)
def test_invalid_options(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        CircuitBreaker("x", **kwargs)  # type: ignore[arg-type]
