"""Bounded concurrency: run many awaitables with at most ``limit`` in flight.

``asyncio.gather`` starts everything at once; a semaphore around each task still
creates every task up front. Here ``limit`` workers pull the next item from a
shared cursor, so at most ``limit`` calls are ever running, memory stays
proportional to ``limit``, and an optional ``rate`` spaces call *starts* evenly
(``1 / rate`` seconds apart). Results come back in input order.

Cancellation safety: if the caller is cancelled, or an item fails and
``return_exceptions`` is false, every running call is cancelled, no new call
starts, and coroutines given to :func:`gather_bounded` that never started are
closed (no "never awaited" warnings). The first failure is re-raised as itself,
not wrapped in an exception group.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Literal, TypeVar, overload

import anyio

from backbeat.errors import OperationTimeout, ValidationError

__all__ = ["gather_bounded", "map_bounded"]

T = TypeVar("T")
R = TypeVar("R")


class _Pacer:
    """Spaces call starts ``1 / rate`` seconds apart (a leaky bucket with no burst)."""

    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
        self.interval = 1.0 / rate
        self.clock = clock
        self.next_slot = -float("inf")

    async def wait(self) -> None:
        now = self.clock()
        slot = max(now, self.next_slot)
        self.next_slot = slot + self.interval
        if slot > now:
            await anyio.sleep(slot - now)


def _check(limit: int, rate: float | None, timeout: float | None) -> None:
    if not isinstance(limit, int) or limit < 1:
        raise ValidationError(
            "validation.concurrency_limit",
            details={"limit": repr(limit)},
            message="The concurrency limit must be a positive integer, got {limit}.",
        )
    if rate is not None and rate <= 0:
        raise ValidationError(
            "validation.rate", details={"rate": rate}, message="rate must be positive, got {rate}."
        )
    if timeout is not None and timeout <= 0:
        raise ValidationError(
            "validation.timeout",
            details={"timeout": timeout},
            message="timeout must be positive, got {timeout}.",
        )


@overload
async def map_bounded(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T],
    *,
    limit: int,
    rate: float | None = ...,
    timeout: float | None = ...,
    return_exceptions: Literal[False] = ...,
    clock: Callable[[], float] = ...,
) -> list[R]: ...
@overload
async def map_bounded(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T],
    *,
    limit: int,
    rate: float | None = ...,
    timeout: float | None = ...,
    return_exceptions: Literal[True],
    clock: Callable[[], float] = ...,
) -> list[R | Exception]: ...
async def map_bounded(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T],
    *,
    limit: int,
    rate: float | None = None,
    timeout: float | None = None,
    return_exceptions: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> list[R] | list[R | Exception]:
    """``await fn(item)`` for every item, at most ``limit`` at a time; results in order.

    Parameters
    ----------
    limit:
        Maximum calls in flight.
    rate:
        Maximum call starts per second (evenly spaced), or ``None``.
    timeout:
        Seconds each call may take; a late call is cancelled and counts as an
        :class:`~backbeat.errors.OperationTimeout` (``core.timeout``, with its index).
    return_exceptions:
        ``True`` puts each ``Exception`` in the result list instead of raising the
        first one and cancelling the rest.
    """
    _check(limit, rate, timeout)
    work = list(items)
    results: list[Any] = [None] * len(work)
    cursor = iter(enumerate(work))
    pacer = _Pacer(rate, clock) if rate else None
    first_error: list[BaseException] = []

    async def worker(scope: anyio.CancelScope) -> None:
        for index, item in cursor:
            if pacer is not None:
                await pacer.wait()
            try:
                if timeout is None:
                    results[index] = await fn(item)
                else:
                    with anyio.move_on_after(timeout) as deadline:
                        results[index] = await fn(item)
                    if deadline.cancelled_caught:
                        raise OperationTimeout(details={"timeout": timeout, "index": index})
            except Exception as e:
                if return_exceptions:
                    results[index] = e
                    continue
                if not first_error:
                    first_error.append(e)
                scope.cancel()
                return

    async with anyio.create_task_group() as tg:
        for _ in range(min(limit, len(work))):
            tg.start_soon(worker, tg.cancel_scope)
    if first_error:
        raise first_error[0]
    return results


async def gather_bounded(
    *aws: Awaitable[R],
    limit: int,
    rate: float | None = None,
    timeout: float | None = None,
    return_exceptions: bool = False,
) -> list[Any]:
    """Like ``asyncio.gather`` but at most ``limit`` awaitables run at a time.

    Accepts the same options as :func:`map_bounded`. Coroutines that never got
    to start (after a failure or a cancellation) are closed.
    """
    started: set[int] = set()

    async def run(aw: Awaitable[R]) -> R:
        started.add(id(aw))
        return await aw

    try:
        if return_exceptions:
            return await map_bounded(
                run, aws, limit=limit, rate=rate, timeout=timeout, return_exceptions=True
            )
        return await map_bounded(run, aws, limit=limit, rate=rate, timeout=timeout)
    finally:
        for aw in aws:
            if id(aw) not in started and isinstance(aw, Coroutine):
                aw.close()
