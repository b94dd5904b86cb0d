"""``AuditTrail``: where audited events go, and when they are durable.

Write modes (the guarantee is the point, so it is explicit):

- ``"direct"`` (default): ``await trail.record(event)`` returns after the event
  is committed to the database. An ``async def`` decorated with ``@audited``
  returns only after its event is durable.
- ``"buffered"``: ``record`` puts the event in a bounded in-memory queue and
  returns; a background task commits batches (up to ``batch_size`` events, at
  least every ``flush_interval`` seconds). A full queue makes callers wait
  (back-pressure), never drops. ``await trail.flush()`` returns once every event
  recorded before it is committed, and ``aclose()`` flushes. A hard crash
  (SIGKILL, power loss) loses what was queued and not yet flushed: at most
  ``max_queue`` events.

Events of plain ``def`` functions are queued from any thread and committed by
the trail's event loop (as in buffered mode, but without back-pressure: a sync
caller is never blocked); ``flush()`` and ``aclose()`` cover them too, even if
they were queued before the trail first ran on a loop.

Sinks: the database (through :class:`AuditStore`) and any extra sinks, e.g.
:class:`JsonLogSink`, which receive each event once it is sealed. With
``enabled=False`` (``ENABLE_AUDIT_LOGS=false``) nothing is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import json
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, Literal, Protocol, runtime_checkable

from backbeat.audit._event import AuditEvent, canonical_details
from backbeat.audit._redact import Redactor
from backbeat.audit._seal import Sealer
from backbeat.audit._store import AuditStore, Checkpoint
from backbeat.audit._verify import VerifyReport, verify_chain
from backbeat.errors import ValidationError

__all__ = [
    "AuditContext",
    "AuditSink",
    "AuditTrail",
    "JsonLogSink",
    "audit_context",
    "current_context",
    "get_default_trail",
    "set_default_trail",
]

log = logging.getLogger(__name__)

Mode = Literal["direct", "buffered"]


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Who is acting, for which request: set once per request, read by ``@audited``."""

    actor: str | None = None
    request_id: str | None = None
    client_ip: str | None = None


_EMPTY = AuditContext()
_CONTEXT: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar(
    "backbeat_audit_context", default=None
)


def current_context() -> AuditContext:
    return _CONTEXT.get() or _EMPTY


@contextlib.contextmanager
def audit_context(
    *, actor: str | None = None, request_id: str | None = None, client_ip: str | None = None
) -> Iterator[AuditContext]:
    """Set the actor / request id / client IP for events recorded inside the block."""
    context = AuditContext(actor, request_id, client_ip)
    token = _CONTEXT.set(context)
    try:
        yield context
    finally:
        _CONTEXT.reset(token)


@runtime_checkable
class AuditSink(Protocol):
    async def write(self, events: Sequence[AuditEvent]) -> None: ...


class JsonLogSink:
    """Writes each sealed event as one JSON line to a logger (or a text stream)."""

    def __init__(
        self, logger: logging.Logger | None = None, *, stream: IO[str] | None = None
    ) -> None:
        self.logger = logger or logging.getLogger("backbeat.audit.events")
        self.stream = stream

    async def write(self, events: Sequence[AuditEvent]) -> None:
        for event in events:
            line = json.dumps(event.to_dict(), ensure_ascii=False, sort_keys=True)
            if self.stream is not None:
                self.stream.write(line + "\n")
            else:
                self.logger.info(line)


_DEFAULT: AuditTrail | None = None


def set_default_trail(trail: AuditTrail | None) -> None:
    """The trail ``@audited`` uses when given none (``Toolkit.audit`` sets itself)."""
    global _DEFAULT
    _DEFAULT = trail


def get_default_trail() -> AuditTrail | None:
    return _DEFAULT


class AuditTrail:
    """Records events to the store and sinks; see the module docstring for the modes."""

    def __init__(
        self,
        store: AuditStore,
        *,
        sinks: Sequence[AuditSink] = (),
        mode: Mode = "direct",
        enabled: bool = True,
        redactor: Redactor | None = None,
        checkpoint_every: int = 1000,
        batch_size: int = 500,
        flush_interval: float = 0.05,
        max_queue: int = 10_000,
    ) -> None:
        if mode not in ("direct", "buffered"):
            raise ValidationError(
                "validation.audit_mode",
                details={"mode": str(mode)},
                message="Unknown audit mode {mode!r}; use direct or buffered.",
            )
        self.store = store
        self.sinks = tuple(sinks)
        self.mode = mode
        self.enabled = enabled
        #: subject ID -> erasable reference (``subj_...``), used for events with a subject
        self.subjects: Callable[[str], Awaitable[str]] | None = None
        self.redactor = redactor or Redactor()
        self.checkpoint_every = checkpoint_every
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.recorded = 0
        self._since_checkpoint: dict[str, int] = {}
        self._queue: deque[AuditEvent] = deque()
        self._queue_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._space: asyncio.Condition | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._write_lock: asyncio.Lock | None = None
        self._drain_lock: asyncio.Lock | None = None
        self._closing = False
        self._failure: BaseException | None = None

    @property
    def sealer(self) -> Sealer:
        return self.store.sealer

    # -- recording --------------------------------------------------------------------

    async def record(self, event: AuditEvent) -> None:
        """Record one event (durable on return in direct mode)."""
        if not self.enabled:
            return
        self._bind_loop()
        if self.mode == "direct":
            await self._write([event])
            return
        assert self._space is not None
        async with self._space:
            while len(self._queue) >= self.max_queue:
                await self._space.wait()
        self._enqueue(event)

    def record_nowait(self, event: AuditEvent) -> None:
        """Queue an event from any thread (plain ``def`` functions); see :meth:`flush`."""
        if not self.enabled:
            return
        self._enqueue(event)

    def _enqueue(self, event: AuditEvent) -> None:
        with self._queue_lock:
            self._queue.append(event)
        loop = self._loop
        if loop is None:
            log.warning("audit: event queued before the trail was started; call start()")
            return
        if loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._ensure_flusher()
            assert self._wakeup is not None
            self._wakeup.set()
        else:
            loop.call_soon_threadsafe(self._wake_from_thread)

    def _wake_from_thread(self) -> None:
        self._ensure_flusher()
        assert self._wakeup is not None
        self._wakeup.set()

    async def start(self) -> None:
        """Bind to the running event loop (done on first ``record`` too)."""
        self._bind_loop()
        self._ensure_flusher()

    def _bind_loop(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._wakeup = asyncio.Event()
            self._space = asyncio.Condition()
            self._write_lock = asyncio.Lock()
            self._drain_lock = asyncio.Lock()

    def _ensure_flusher(self) -> None:
        if self._flusher is None and not self._closing and self._loop is not None:
            self._flusher = self._loop.create_task(self._flush_loop(), name="backbeat-audit")

    async def _flush_loop(self) -> None:
        assert self._wakeup is not None
        while not self._closing:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_interval):
                    await self._wakeup.wait()
            self._wakeup.clear()
            try:
                await self._drain()
            except Exception as e:  # keep the events queued; report, retry next round
                self._failure = e
                log.error("audit: could not write queued events (%s); will retry", e)
                await asyncio.sleep(min(1.0, self.flush_interval * 10))

    async def _drain(self) -> None:
        assert self._drain_lock is not None
        # One drainer at a time: a batch is taken, written, and only then removed
        # from the queue, so a failed write leaves it queued for the next round.
        async with self._drain_lock:
            while True:
                with self._queue_lock:
                    size = min(self.batch_size, len(self._queue))
                    batch = [self._queue[i] for i in range(size)]
                if not batch:
                    return
                await self._write(batch)
                with self._queue_lock:
                    for _ in batch:
                        self._queue.popleft()
                self._failure = None
                if self._space is not None:
                    async with self._space:
                        self._space.notify_all()

    async def _pseudonymise(self, event: AuditEvent) -> AuditEvent:
        """``event`` with its subject's ID replaced by the subject's reference."""
        subject = event.subject
        if subject is None:
            return event
        if self.subjects is None or not subject:
            return dataclasses.replace(event, subject=None)
        ref = await self.subjects(subject)

        def swap(value: Any) -> Any:
            if isinstance(value, str):
                return value.replace(subject, ref)
            if isinstance(value, dict):
                return {swap(k): swap(v) for k, v in value.items()}
            if isinstance(value, list):
                return [swap(v) for v in value]
            return value

        return dataclasses.replace(
            event,
            actor=swap(event.actor),
            resource=swap(event.resource),
            details=canonical_details(swap(json.loads(event.details))),
            subject=None,
        )

    async def _write(self, batch: Sequence[AuditEvent]) -> None:
        assert self._write_lock is not None
        batch = [await self._pseudonymise(e) for e in batch]
        async with self._write_lock:  # one writer per trail keeps batches in order
            by_chain: dict[str, list[AuditEvent]] = {}
            for e in batch:
                by_chain.setdefault(e.chain, []).append(e)
            for chain, drafts in by_chain.items():
                sealed = await self.store.append(drafts)
                self.recorded += len(sealed)
                for sink in self.sinks:
                    await sink.write(sealed)
                n = self._since_checkpoint.get(chain, 0) + len(sealed)
                if self.checkpoint_every and n >= self.checkpoint_every:
                    await self.store.checkpoint(chain)
                    n = 0
                self._since_checkpoint[chain] = n

    async def flush(self) -> None:
        """Return once every event recorded so far is committed (raises if it cannot be)."""
        self._bind_loop()  # events queued from sync code before any async use are kept too
        await self._drain()

    async def aclose(self) -> None:
        """Flush, then stop the background writer."""
        self._closing = True
        try:
            await self.flush()
        finally:
            if self._flusher is not None:
                self._flusher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._flusher
                self._flusher = None

    @property
    def pending(self) -> int:
        """Events queued and not yet committed."""
        return len(self._queue)

    # -- reading ----------------------------------------------------------------------

    async def checkpoint(self, chain: str = "default") -> Checkpoint | None:
        return await self.store.checkpoint(chain)

    async def verify(self, chain: str = "default") -> VerifyReport:
        return await verify_chain(self.store, self.sealer, chain)

    async def query(self, **filters: Any) -> list[AuditEvent]:
        """Events by ``actor``, ``action``, ``resource``, ``chain``, ``since``/``until``."""
        return await self.store.query(**filters)

    async def export_jsonl(self, stream: IO[str], **filters: Any) -> int:
        """Write matching events as JSON Lines; returns how many."""
        rows = await self.store.query(**{"limit": None, **filters})
        for event in rows:
            stream.write(json.dumps(event.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
        return len(rows)
