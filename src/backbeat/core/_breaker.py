"""Circuit breaker (Nygard, *Release It!*, 2007): stop calling what keeps failing.

States: ``closed`` (calls flow; consecutive transient failures are counted),
``open`` (calls are refused at once with :class:`~backbeat.errors.CircuitOpenError`
until ``reset_timeout`` has passed), ``half_open`` (up to ``half_open_max_calls``
trial calls go through; ``success_threshold`` successes close the circuit, one
failure opens it again).

Which errors count is the same rule as :func:`~backbeat.core.retry`: bad input
does not prove a dependency is down, so a ``ValidationError`` passes through
without tripping anything. Outcomes of calls that started in an earlier state
(a slow call finishing after the circuit opened) are ignored, so a trial slot is
only ever released by the trial that took it. Thread-safe; usable from many
asyncio tasks at once.
"""

from __future__ import annotations

import enum
import functools
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import ParamSpec, TypeVar, cast

from backbeat.core._retry import RetryOn, is_transient
from backbeat.errors import CircuitOpenError, ValidationError

__all__ = ["CircuitBreaker", "CircuitState"]

P = ParamSpec("P")
R = TypeVar("R")


class CircuitState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class _Ticket:
    generation: int
    trial: bool


class CircuitBreaker:
    """Guard calls to one dependency; a decorator and a (sync or async) context manager.

    >>> breaker = CircuitBreaker("spotify", failure_threshold=5, reset_timeout=30)
    >>> @breaker
    ... async def fetch(track_id: str) -> dict: ...
    >>> with breaker:   # or: async with breaker:
    ...     call_dependency()

    ``on_state_change(old, new)`` is called (outside the lock) on every transition.
    """

    def __init__(
        self,
        name: str = "default",
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        success_threshold: int = 1,
        failure_on: RetryOn = is_transient,
        on_state_change: Callable[[CircuitState, CircuitState], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or half_open_max_calls < 1 or success_threshold < 1:
            raise ValidationError(
                "validation.circuit_breaker",
                details={"name": name},
                message="Circuit {name!r}: thresholds and trial calls must be at least 1.",
            )
        if reset_timeout < 0:
            raise ValidationError(
                "validation.circuit_breaker",
                details={"name": name},
                message="Circuit {name!r}: reset_timeout must not be negative.",
            )
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.half_open_max_calls = half_open_max_calls
        self.success_threshold = success_threshold
        self._failure_on = failure_on
        self._on_change = on_state_change
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._generation = 0
        self._failures = 0
        self._successes = 0
        self._trials = 0
        self._opened_at = 0.0
        self._tickets: ContextVar[tuple[_Ticket, ...]] = ContextVar(
            f"backbeat_breaker_{id(self)}", default=()
        )

    # -- observation -----------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """Current state; an open circuit whose timeout has passed reads ``half_open``."""
        with self._lock:
            changed = self._tick()
            state = self._state
        self._notify(changed)
        return state

    @property
    def failures(self) -> int:
        """Consecutive counted failures while closed."""
        return self._failures

    def retry_after(self) -> float:
        """Seconds until an open circuit lets a trial through (0 if not open)."""
        with self._lock:
            if self._state is not CircuitState.OPEN:
                return 0.0
            return max(0.0, self._opened_at + self.reset_timeout - self._clock())

    def reset(self) -> None:
        """Force the circuit closed and forget the counts."""
        with self._lock:
            changed = self._move(CircuitState.CLOSED)
        self._notify(changed)

    # -- the protocol: acquire, then record --------------------------------------

    def _acquire(self) -> _Ticket:
        with self._lock:
            changed = self._tick()
            if self._state is CircuitState.OPEN:
                wait = max(0.0, self._opened_at + self.reset_timeout - self._clock())
                error: CircuitOpenError | None = CircuitOpenError(self.name, wait)
                ticket = None
            elif self._state is CircuitState.HALF_OPEN:
                if self._trials >= self.half_open_max_calls:
                    error, ticket = CircuitOpenError(self.name, 0.0), None
                else:
                    self._trials += 1
                    error, ticket = None, _Ticket(self._generation, trial=True)
            else:
                error, ticket = None, _Ticket(self._generation, trial=False)
        self._notify(changed)
        if error is not None:
            raise error
        assert ticket is not None
        return ticket

    def _record(self, ticket: _Ticket, exc: BaseException | None) -> None:
        counted = exc is not None and self._counts(exc)
        with self._lock:
            if ticket.generation != self._generation:
                return  # stale outcome from a call that began in an earlier state
            changed: tuple[CircuitState, CircuitState] | None = None
            if self._state is CircuitState.HALF_OPEN and ticket.trial:
                self._trials -= 1
                if counted:
                    changed = self._move(CircuitState.OPEN)
                elif exc is None:
                    self._successes += 1
                    if self._successes >= self.success_threshold:
                        changed = self._move(CircuitState.CLOSED)
            elif self._state is CircuitState.CLOSED:
                if counted:
                    self._failures += 1
                    if self._failures >= self.failure_threshold:
                        changed = self._move(CircuitState.OPEN)
                elif exc is None:
                    self._failures = 0
        self._notify(changed)

    def _counts(self, exc: BaseException) -> bool:
        on = self._failure_on
        if isinstance(on, type | tuple):
            return isinstance(exc, on)
        return bool(on(exc))

    def _tick(self) -> tuple[CircuitState, CircuitState] | None:
        if (
            self._state is CircuitState.OPEN
            and self._clock() - self._opened_at >= self.reset_timeout
        ):
            return self._move(CircuitState.HALF_OPEN)
        return None

    def _move(self, new: CircuitState) -> tuple[CircuitState, CircuitState] | None:
        old = self._state
        self._state = new
        self._generation += 1
        self._failures = self._successes = self._trials = 0
        if new is CircuitState.OPEN:
            self._opened_at = self._clock()
        return (old, new) if old is not new else None

    def _notify(self, changed: tuple[CircuitState, CircuitState] | None) -> None:
        if changed is not None and self._on_change is not None:
            self._on_change(*changed)

    # -- decorator ----------------------------------------------------------------

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(func):
            afunc = cast(Callable[P, Awaitable[object]], func)

            @functools.wraps(func)
            async def awrapper(*args: P.args, **kwargs: P.kwargs) -> object:
                ticket = self._acquire()
                try:
                    result = await afunc(*args, **kwargs)
                except BaseException as e:
                    self._record(ticket, e)
                    raise
                self._record(ticket, None)
                return result

            return cast(Callable[P, R], awrapper)

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            ticket = self._acquire()
            try:
                result = func(*args, **kwargs)
            except BaseException as e:
                self._record(ticket, e)
                raise
            self._record(ticket, None)
            return result

        return wrapper

    # -- context managers ------------------------------------------------------

    def __enter__(self) -> CircuitBreaker:
        self._tickets.set((*self._tickets.get(), self._acquire()))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        *rest, ticket = self._tickets.get()
        self._tickets.set(tuple(rest))
        self._record(ticket, exc)

    async def __aenter__(self) -> CircuitBreaker:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self._state.value})"
