"""Retry with capped exponential backoff and full jitter, for ``def`` and ``async def``.

Why our own and not tenacity or stamina: tenacity is a general strategy engine
that builds a ``Retrying`` object and walks its strategy objects on *every* call,
successful or not; stamina wraps tenacity (same per-call cost) and, by design,
exposes no per-call clock. We need (1) near-zero cost on the success path, since
``@retry`` wraps hot cache loaders and database reads; (2) the seed's vocabulary
(``max_attempts``, ``backoff_factor``, ``retry_async``); (3) an injectable clock,
sleep and random source so tests assert exact schedules without sleeping; and (4)
awareness of our error tree: bad input (:class:`~backbeat.errors.ValidationError`)
never gets retried, and ``RateLimited.retry_after`` is honoured. The algorithm is
small: the delay before attempt ``n + 1`` is drawn uniformly from
``[0, min(max_delay, initial_delay * backoff_factor ** (n - 1))]`` ("full jitter",
Brooker, *Exponential Backoff And Jitter*, AWS Architecture Blog, 2015), and no
sleep starts that would end past the overall ``deadline``.
``benchmarks/bench_core.py`` measures the success-path overhead next to both.
"""

from __future__ import annotations

import functools
import inspect
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast, overload

from backbeat.errors import BackbeatError, RateLimited, ValidationError

__all__ = ["RetryAttempt", "RetryPolicy", "is_transient", "retry", "retry_async"]

P = ParamSpec("P")
R = TypeVar("R")

RetryOn = type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]


def is_transient(exc: BaseException) -> bool:
    """Default retry predicate: any ``Exception`` except our non-retryable errors.

    A :class:`~backbeat.errors.BackbeatError` says whether waiting can help through
    its ``retryable`` flag (bad input, refused credentials, missing things: no).
    ``BaseException``\\ s that are not ``Exception`` (cancellation, ``KeyboardInterrupt``)
    are never retried.
    """
    if isinstance(exc, BackbeatError):
        return exc.retryable
    return isinstance(exc, Exception)


@dataclass(frozen=True, slots=True)
class RetryAttempt:
    """What an ``on_retry`` hook is told before each sleep."""

    function: str
    attempt: int  # the attempt that just failed, from 1
    error: BaseException
    delay: float  # seconds about to be slept
    elapsed: float  # seconds since the first attempt started


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The schedule: how many attempts, which errors, how long to wait.

    ``retry(...)`` builds one; you may also build it once and share it:
    ``policy = RetryPolicy(max_attempts=5); @retry(policy=policy)``.
    """

    max_attempts: int = 3
    backoff_factor: float = 2.0
    initial_delay: float = 0.1
    max_delay: float = 10.0
    jitter: bool = True
    deadline: float | None = None
    retry_on: RetryOn = is_transient

    def __post_init__(self) -> None:
        problems = []
        if self.max_attempts < 1:
            problems.append("max_attempts must be at least 1")
        if self.backoff_factor < 1:
            problems.append("backoff_factor must be at least 1")
        if self.initial_delay < 0 or self.max_delay < 0:
            problems.append("delays must not be negative")
        if self.deadline is not None and self.deadline <= 0:
            problems.append("deadline must be positive")
        if problems:
            raise ValidationError(
                "validation.retry_policy",
                details={"problems": "; ".join(problems)},
                message="Invalid retry policy: {problems}.",
            )

    def should_retry(self, exc: BaseException) -> bool:
        on = self.retry_on
        if isinstance(on, type | tuple):
            return isinstance(exc, on)
        return bool(on(exc))

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay after failed attempt number ``attempt`` (from 1), before any jitter cap."""
        ceiling = min(self.max_delay, self.initial_delay * self.backoff_factor ** (attempt - 1))
        if not self.jitter:
            return ceiling
        return (rng or _RNG).uniform(0.0, ceiling)


# Jitter needs randomness, not secrecy: a seeded-per-process PRNG is right here.
_RNG = random.Random()  # noqa: S311


class _Schedule:
    """Per-call state, created only after a first failure (success path stays free)."""

    __slots__ = ("attempt", "clock", "name", "policy", "rng", "start")

    def __init__(
        self,
        policy: RetryPolicy,
        name: str,
        clock: Callable[[], float],
        start: float,
        rng: random.Random | None,
    ) -> None:
        self.policy, self.name, self.clock, self.start, self.rng = policy, name, clock, start, rng
        self.attempt = 1

    def next_delay(self, exc: BaseException) -> RetryAttempt | None:
        """The wait before the next attempt, or ``None`` to give up and re-raise."""
        p = self.policy
        if self.attempt >= p.max_attempts or not p.should_retry(exc):
            return None
        delay = p.backoff(self.attempt, self.rng)
        if isinstance(exc, RateLimited):
            delay = max(delay, exc.retry_after)
        elapsed = self.clock() - self.start
        if p.deadline is not None and elapsed + delay >= p.deadline:
            return None
        info = RetryAttempt(self.name, self.attempt, exc, delay, elapsed)
        self.attempt += 1
        return info


@overload
def retry(fn: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def retry(
    fn: None = None,
    /,
    *,
    max_attempts: int = 3,
    backoff_factor: float = 2.0,
    initial_delay: float = 0.1,
    max_delay: float = 10.0,
    jitter: bool = True,
    deadline: float | None = None,
    retry_on: RetryOn = is_transient,
    on_retry: Callable[[RetryAttempt], object] | None = None,
    policy: RetryPolicy | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] | None = None,
    rng: random.Random | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...
def retry(
    fn: Callable[P, R] | None = None,
    /,
    *,
    max_attempts: int = 3,
    backoff_factor: float = 2.0,
    initial_delay: float = 0.1,
    max_delay: float = 10.0,
    jitter: bool = True,
    deadline: float | None = None,
    retry_on: RetryOn = is_transient,
    on_retry: Callable[[RetryAttempt], object] | None = None,
    policy: RetryPolicy | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] | None = None,
    rng: random.Random | None = None,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Retry a function on transient errors; use as ``@retry`` or ``@retry(...)``.

    Parameters
    ----------
    max_attempts:
        Total attempts, the first included (``1`` disables retrying).
    backoff_factor, initial_delay, max_delay:
        The wait before attempt ``n + 1`` is at most
        ``min(max_delay, initial_delay * backoff_factor ** (n - 1))`` seconds.
    jitter:
        Full jitter (uniform in ``[0, ceiling]``); ``False`` waits the ceiling.
    deadline:
        Seconds, from the first attempt, after which no new attempt starts. An
        attempt in progress is not interrupted (wrap it in ``anyio.fail_after``).
    retry_on:
        Exception type(s) or a predicate; default :func:`is_transient`.
    on_retry:
        Called with a :class:`RetryAttempt` before each sleep (for logs, metrics);
        may be ``async`` when the decorated function is.
    clock, sleep, rng:
        Injection points for tests. ``sleep`` may be ``async`` for ``async``
        functions; the defaults are ``time.sleep`` and ``anyio.sleep``.

    When attempts run out (or the error is not retryable) the *last* error is
    re-raised unchanged, so callers catch what they already know.
    """
    pol = policy or RetryPolicy(
        max_attempts=max_attempts,
        backoff_factor=backoff_factor,
        initial_delay=initial_delay,
        max_delay=max_delay,
        jitter=jitter,
        deadline=deadline,
        retry_on=retry_on,
    )

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        name = getattr(func, "__qualname__", repr(func))
        if inspect.iscoroutinefunction(func):
            return cast(Callable[P, R], _wrap_async(func, pol, name, on_retry, clock, sleep, rng))
        return _wrap_sync(func, pol, name, on_retry, clock, sleep, rng)

    return decorate(fn) if fn is not None else decorate


def _wrap_sync(
    func: Callable[P, R],
    pol: RetryPolicy,
    name: str,
    on_retry: Callable[[RetryAttempt], object] | None,
    clock: Callable[[], float],
    sleep: Callable[[float], object] | None,
    rng: random.Random | None,
) -> Callable[P, R]:
    do_sleep = sleep or time.sleep

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        start = clock() if pol.deadline is not None else 0.0
        try:
            return func(*args, **kwargs)
        except Exception as first:
            schedule = _Schedule(pol, name, clock, start, rng)
            exc: Exception = first
        while True:
            info = schedule.next_delay(exc)
            if info is None:
                raise exc
            if on_retry is not None:
                on_retry(info)
            do_sleep(info.delay)
            try:
                return func(*args, **kwargs)
            except Exception as again:
                exc = again

    return wrapper


def _wrap_async(
    func: Callable[P, Awaitable[R]],
    pol: RetryPolicy,
    name: str,
    on_retry: Callable[[RetryAttempt], object] | None,
    clock: Callable[[], float],
    sleep: Callable[[float], object] | None,
    rng: random.Random | None,
) -> Callable[P, Awaitable[R]]:
    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        start = clock() if pol.deadline is not None else 0.0
        try:
            return await func(*args, **kwargs)
        except Exception as first:
            schedule = _Schedule(pol, name, clock, start, rng)
            exc: Exception = first
        while True:
            info = schedule.next_delay(exc)
            if info is None:
                raise exc
            if on_retry is not None:
                await _maybe_await(on_retry(info))
            await _maybe_await(sleep(info.delay) if sleep else _anyio_sleep(info.delay))
            try:
                return await func(*args, **kwargs)
            except Exception as again:
                exc = again

    return wrapper


async def _anyio_sleep(seconds: float) -> None:
    import anyio

    await anyio.sleep(seconds)


async def _maybe_await(value: Any) -> None:
    if inspect.isawaitable(value):
        await value


#: The seed's name; works on ``def`` and ``async def`` alike.
retry_async = retry
