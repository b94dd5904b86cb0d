"""``@audited``: record who did what, when, and whether it worked.

The event holds the action, the resource, the actor / request id / client IP
of the current :func:`audit_context`, the outcome (``failure`` with the error's
``code``, or its class name, never a traceback), the duration, and, unless
``sensitive=True``, the call's arguments and result after redaction. The
decorated function's result and exceptions are passed through unchanged.
With no trail (none given, no default set) or a disabled one, the function
simply runs.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

from backbeat.audit._event import AuditEvent, canonical_details
from backbeat.audit._trail import AuditTrail, current_context, get_default_trail
from backbeat.errors import BackbeatError

__all__ = ["audit_trail", "audited"]

P = ParamSpec("P")
R = TypeVar("R")

Resource = str | Callable[..., str | None] | None


def audited(
    action: str,
    *,
    sensitive: bool = False,
    resource: Resource = None,
    actor: Callable[..., str | None] | None = None,
    subject: Callable[..., str | None] | None = None,
    chain: str = "default",
    trail: AuditTrail | Callable[[], AuditTrail | None] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Audit every call of a ``def`` or ``async def``.

    Parameters
    ----------
    action:
        What is done, e.g. ``"fetch_track"``.
    sensitive:
        Do not store arguments or result at all (denylisted keys are masked anyway).
    resource:
        A template filled from the arguments (``"track:{track_id}"``) or a callable
        taking the same arguments.
    actor:
        A callable taking the arguments; default: the current ``audit_context``.
    subject:
        A callable taking the arguments and returning the end user the call is about: their
        ID is stored as their erasable reference (see :class:`AuditEvent`).
    trail:
        An :class:`AuditTrail` or a callable returning one; default: the trail set
        with :func:`set_default_trail` (``Toolkit.audit`` sets itself).
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(fn)

        def resolve() -> AuditTrail | None:
            t = trail() if callable(trail) and not isinstance(trail, AuditTrail) else trail
            t = t if t is not None else get_default_trail()
            return t if t is not None and t.enabled else None

        def build(
            t: AuditTrail,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
            started: float,
            result: Any,
            error: BaseException | None,
        ) -> AuditEvent:
            ctx = current_context()
            details: dict[str, Any] = {}
            bound: dict[str, Any] = {}
            try:
                b = signature.bind(*args, **kwargs)
                b.apply_defaults()
                bound = dict(b.arguments)
            except TypeError:
                bound = {}
            if not sensitive:
                details["args"] = t.redactor.redact(
                    {k: v for k, v in bound.items() if k not in ("self", "cls")}
                )
                if error is None:
                    details["result"] = t.redactor.redact(result)
            res: str | None
            if callable(resource):
                res = resource(*args, **kwargs)
            elif isinstance(resource, str):
                try:
                    res = resource.format(**bound)
                except (KeyError, IndexError, AttributeError):
                    res = resource
            else:
                res = None
            code = None
            if error is not None:
                code = error.code if isinstance(error, BackbeatError) else type(error).__name__
            return AuditEvent(
                action=action,
                actor=actor(*args, **kwargs) if actor is not None else ctx.actor,
                resource=res,
                outcome="failure" if error is not None else "success",
                error_code=code,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                request_id=ctx.request_id,
                client_ip=ctx.client_ip,
                details=canonical_details(details),
                chain=chain,
                subject=subject(*args, **kwargs) if subject is not None else None,
            )

        if inspect.iscoroutinefunction(fn):
            afn = cast(Callable[..., Any], fn)

            @functools.wraps(fn)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                t = resolve()
                if t is None:
                    return await afn(*args, **kwargs)
                started = time.perf_counter()
                try:
                    result = await afn(*args, **kwargs)
                except Exception as e:
                    await t.record(build(t, args, kwargs, started, None, e))
                    raise
                await t.record(build(t, args, kwargs, started, result, None))
                return result

            return cast(Callable[P, R], awrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            t = resolve()
            if t is None:
                return fn(*args, **kwargs)
            started = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            except Exception as e:
                t.record_nowait(build(t, args, kwargs, started, None, e))
                raise
            t.record_nowait(build(t, args, kwargs, started, result, None))
            return result

        return wrapper

    return decorate


#: The seed's name: ``@audit_trail(action="fetch_track", sensitive=True)``.
audit_trail = audited
