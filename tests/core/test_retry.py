from __future__ import annotations

import random

import pytest

from backbeat.core import RetryAttempt, RetryPolicy, retry, retry_async
from backbeat.errors import RateLimited, Unavailable, ValidationError


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


class Flaky:
    """Fails ``failures`` times with ``error``, then returns ``"ok"``."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionError("down")
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def test_success_first_time_calls_once_and_never_sleeps() -> None:
    clock, fn = FakeClock(), Flaky(0)
    assert retry(clock=clock, sleep=clock.sleep)(fn)() == "ok"
    assert fn.calls == 1
    assert clock.sleeps == []


def test_retries_until_success_with_exponential_ceilings() -> None:
    clock, fn = FakeClock(), Flaky(3)
    wrapped = retry(
        max_attempts=5,
        initial_delay=0.5,
        backoff_factor=2,
        jitter=False,
        clock=clock,
        sleep=clock.sleep,
    )(fn)
    assert wrapped() == "ok"
    assert fn.calls == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]


def test_delays_are_capped_by_max_delay() -> None:
    clock, fn = FakeClock(), Flaky(5)
    retry(
        max_attempts=6,
        initial_delay=1,
        backoff_factor=10,
        max_delay=3,
        jitter=False,
        clock=clock,
        sleep=clock.sleep,
    )(fn)()
    assert clock.sleeps == [1, 3, 3, 3, 3]


def test_full_jitter_stays_within_the_ceiling_and_varies() -> None:
    clock, fn = FakeClock(), Flaky(6)
    retry(
        max_attempts=7,
        initial_delay=1,
        backoff_factor=2,
        max_delay=100,
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(7),
    )(fn)()
    ceilings = [1, 2, 4, 8, 16, 32]
    assert all(0 <= d <= c for d, c in zip(clock.sleeps, ceilings, strict=True))
    assert len(set(clock.sleeps)) == len(clock.sleeps)


def test_gives_up_after_max_attempts_and_reraises_the_last_error() -> None:
    clock = FakeClock()
    errors = iter([ConnectionError("first"), ConnectionError("second"), ConnectionError("last")])

    @retry(max_attempts=3, clock=clock, sleep=clock.sleep)
    def always_fails() -> None:
        raise next(errors)

    with pytest.raises(ConnectionError, match="last"):
        always_fails()
    assert len(clock.sleeps) == 2


def test_deadline_stops_before_a_sleep_that_would_pass_it() -> None:
    clock, fn = FakeClock(), Flaky(10)
    wrapped = retry(
        max_attempts=10,
        initial_delay=1,
        backoff_factor=2,
        jitter=False,
        deadline=5,
        clock=clock,
        sleep=clock.sleep,
    )(fn)
    with pytest.raises(ConnectionError):
        wrapped()
    # 1 + 2 = 3 s elapsed; the next wait (4 s) would end at 7 s > 5 s.
    assert clock.sleeps == [1, 2]
    assert fn.calls == 3


def test_validation_errors_are_not_retried_by_default() -> None:
    clock, fn = FakeClock(), Flaky(1, ValidationError())
    with pytest.raises(ValidationError):
        retry(clock=clock, sleep=clock.sleep)(fn)()
    assert fn.calls == 1


def test_retry_on_types_limits_what_is_retried() -> None:
    clock = FakeClock()
    fn = Flaky(1, KeyError("k"))
    with pytest.raises(KeyError):
        retry(retry_on=ConnectionError, clock=clock, sleep=clock.sleep)(fn)()
    assert fn.calls == 1
    fn2 = Flaky(1, KeyError("k"))
    assert retry(retry_on=(KeyError,), clock=clock, sleep=clock.sleep)(fn2)() == "ok"


def test_retry_on_predicate() -> None:
    clock = FakeClock()
    fn = Flaky(2, OSError(11, "again"))
    wrapped = retry(
        retry_on=lambda e: isinstance(e, OSError) and e.errno == 11,
        clock=clock,
        sleep=clock.sleep,
    )(fn)
    assert wrapped() == "ok"


def test_rate_limited_retry_after_is_honoured() -> None:
    clock = FakeClock()
    fn = Flaky(1, RateLimited(retry_after=7))
    retry(initial_delay=0.1, jitter=False, clock=clock, sleep=clock.sleep)(fn)()
    assert clock.sleeps == [7]


def test_on_retry_hook_sees_each_failed_attempt() -> None:
    clock, fn, seen = FakeClock(), Flaky(2), []
    retry(initial_delay=1, jitter=False, on_retry=seen.append, clock=clock, sleep=clock.sleep)(fn)()
    assert [(a.attempt, a.delay, a.elapsed) for a in seen] == [(1, 1, 0.0), (2, 2, 1.0)]
    assert all(isinstance(a, RetryAttempt) and "Flaky" in a.function for a in seen)


def test_keyboard_interrupt_is_never_retried() -> None:
    clock, fn = FakeClock(), Flaky(1, KeyboardInterrupt())  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt):
        retry(clock=clock, sleep=clock.sleep)(fn)()
    assert fn.calls == 1


def test_bare_decorator_keeps_metadata() -> None:
    @retry
    def named(x: int) -> int:
        """Doc."""
        return x + 1

    assert named(1) == 2
    assert named.__name__ == "named"
    assert named.__doc__ == "Doc."


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"backoff_factor": 0.5}, {"initial_delay": -1}, {"deadline": 0}],
)
def test_invalid_policies_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValidationError) as info:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert info.value.code == "validation.retry_policy"


def test_a_shared_policy_object() -> None:
    clock, fn = FakeClock(), Flaky(1)
    policy = RetryPolicy(max_attempts=2, initial_delay=3, jitter=False)
    assert retry(policy=policy, clock=clock, sleep=clock.sleep)(fn)() == "ok"
    assert clock.sleeps == [3]


# -- async ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_function_is_retried_with_async_sleep() -> None:
    clock = FakeClock()
    calls = 0

    @retry_async(
        max_attempts=3,
        backoff_factor=2.0,
        initial_delay=1,
        jitter=False,
        clock=clock,
        sleep=clock.asleep,
    )
    async def fetch() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise Unavailable()
        return "track"

    assert await fetch() == "track"
    assert clock.sleeps == [1, 2]


@pytest.mark.anyio
async def test_async_gives_up_and_accepts_async_hooks() -> None:
    clock, seen = FakeClock(), []

    async def hook(attempt: RetryAttempt) -> None:
        seen.append(attempt.attempt)

    @retry(max_attempts=3, clock=clock, sleep=clock.asleep, on_retry=hook)
    async def down() -> None:
        raise ConnectionError("x")

    with pytest.raises(ConnectionError):
        await down()
    assert seen == [1, 2]


@pytest.mark.anyio
async def test_async_default_sleep_really_waits() -> None:
    import time

    calls = 0

    @retry(max_attempts=2, initial_delay=0.05, jitter=False)
    async def once_down() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError
        return calls

    start = time.monotonic()
    assert await once_down() == 2
    assert time.monotonic() - start >= 0.05
