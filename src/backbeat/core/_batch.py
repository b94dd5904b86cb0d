"""Batch transformation with ordered results and a failure report.

``await batch_transform(items, fn, batch_size=100)`` applies ``fn`` to every
item and returns a :class:`BatchResult` whose ``results`` line up with the
input. Items are cut into consecutive batches of ``batch_size``; a batch is
the unit of work and of progress:

- an ``async def fn`` has a batch's items awaited together (at most
  ``batch_size`` in flight per batch);
- a plain ``def fn`` has each batch run in a worker thread, item after item,
  so CPU- or I/O-bound sync code never blocks the event loop and pays one
  thread hop per batch, not per item;
- ``concurrency`` batches run at once (default 1: batches in order).

``on_error="raise"`` (default) re-raises the first failure, with a note naming
its index, and cancels the rest; ``on_error="collect"`` keeps going and reports
every failure in ``BatchResult.failures``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar, cast

import anyio
import anyio.to_thread

from backbeat.core._concurrency import map_bounded
from backbeat.core._data import chunked
from backbeat.errors import BackbeatError, ValidationError

__all__ = ["BatchResult", "ItemFailure", "batch_transform"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """One item that ``fn`` failed on."""

    index: int
    item: Any
    error: Exception

    @property
    def code(self) -> str:
        """The error's stable code for ours, the exception class name otherwise."""
        return (
            self.error.code if isinstance(self.error, BackbeatError) else type(self.error).__name__
        )


@dataclass(frozen=True, slots=True)
class BatchResult(Generic[R]):
    """``results[i]`` is ``fn(items[i])``, or ``None`` where item ``i`` failed."""

    results: list[R | None]
    failures: tuple[ItemFailure, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def succeeded(self) -> int:
        return len(self.results) - len(self.failures)

    def successes(self) -> Iterator[tuple[int, R]]:
        """``(index, result)`` for every item that succeeded, in input order."""
        failed = {f.index for f in self.failures}
        for i, r in enumerate(self.results):
            if i not in failed:
                yield i, cast(R, r)

    def raise_for_failures(self) -> None:
        """Re-raise the first failure, if any (for callers that collected first)."""
        if self.failures:
            raise self.failures[0].error


Progress = Callable[[int, int], object]


async def batch_transform(
    items: Iterable[T],
    fn: Callable[[T], R] | Callable[[T], Awaitable[R]],
    *,
    batch_size: int = 100,
    concurrency: int = 1,
    on_error: Literal["raise", "collect"] = "raise",
    on_progress: Progress | None = None,
) -> BatchResult[R]:
    """Apply ``fn`` to every item in batches; see the module docstring for the model.

    ``on_progress(done, total)`` (sync or async) is called after each batch with
    the number of items finished so far.
    """
    if on_error not in ("raise", "collect"):
        raise ValidationError(
            "validation.on_error",
            details={"value": str(on_error)},
            message="on_error must be 'raise' or 'collect', got {value!r}.",
        )
    work = list(items)
    total = len(work)
    results: list[Any] = [None] * total
    failures: list[ItemFailure] = []
    done = 0
    collect = on_error == "collect"
    is_async = inspect.iscoroutinefunction(fn)
    batches = list(chunked(range(total), batch_size))

    def run_sync(indexes: Sequence[int]) -> list[ItemFailure]:
        sync_fn = cast(Callable[[T], R], fn)
        failed: list[ItemFailure] = []
        for i in indexes:
            try:
                results[i] = sync_fn(work[i])
            except Exception as e:
                failed.append(ItemFailure(i, work[i], e))
                if not collect:
                    break
        return failed

    async def run_async(indexes: Sequence[int]) -> list[ItemFailure]:
        async_fn = cast(Callable[[T], Awaitable[R]], fn)
        outcomes = await map_bounded(
            lambda i: async_fn(work[i]), indexes, limit=len(indexes), return_exceptions=True
        )
        failed = []
        for i, outcome in zip(indexes, outcomes, strict=True):
            if isinstance(outcome, Exception):
                failed.append(ItemFailure(i, work[i], outcome))
            else:
                results[i] = outcome
        return failed

    async def run_batch(indexes: list[int]) -> None:
        nonlocal done
        if is_async:
            failed = await run_async(indexes)
        else:
            failed = await anyio.to_thread.run_sync(run_sync, indexes)
        if failed and not collect:
            first = failed[0]
            first.error.add_note(f"batch_transform: item {first.index} failed")
            raise first.error
        failures.extend(failed)
        done += len(indexes)
        if on_progress is not None:
            outcome = on_progress(done, total)
            if inspect.isawaitable(outcome):
                await outcome

    if batches:
        await map_bounded(run_batch, batches, limit=concurrency)
    failures.sort(key=lambda f: f.index)
    return BatchResult(results=results, failures=tuple(failures))
