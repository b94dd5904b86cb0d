"""What the commands share: running async work on the configured catalogue, audit records
with their real outcome, and a plain-text help format."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from backbeat.errors import BackbeatError

__all__ = ["record_outcome", "run_with_catalogue"]

T = TypeVar("T")


def run_with_catalogue(
    work: Callable[[Any], Awaitable[T]],
    *,
    audit: tuple[str, str] | None = None,
    failed: Callable[[T], str | None] = lambda _: None,
) -> T:
    """Run ``work(catalogue)`` against the configured database (migrated when embedded).

    ``audit=(action, resource)`` records the admin action in the audit trail with its
    real outcome: ``failure`` with the error code when ``work`` raises, or when
    ``failed(result)`` returns a code (the action did not happen).
    """
    import anyio

    from backbeat.catalogue import Catalogue
    from backbeat.settings import Settings
    from backbeat.toolkit import Toolkit

    async def run() -> T:
        async with Toolkit(Settings.from_env()) as toolkit:
            if toolkit.settings.database_backend == "sqlite":
                toolkit.settings.data_dir.mkdir(parents=True, exist_ok=True)
                await toolkit.migrate()
            catalogue = Catalogue.from_settings(toolkit.settings, toolkit.database_engine())
            started = time.perf_counter()
            try:
                result = await work(catalogue)
            except BackbeatError as exc:
                await record_outcome(toolkit, audit, started, exc.code)
                raise
            await record_outcome(toolkit, audit, started, failed(result))
            return result

    return anyio.run(run)


async def record_outcome(
    toolkit: Any, audit: tuple[str, str] | None, started: float, error_code: str | None
) -> None:
    if audit is None:
        return
    from backbeat.audit import AuditEvent

    action, resource = audit
    await toolkit.audit.record(
        AuditEvent(
            action=action,
            actor="cli",
            resource=resource,
            outcome="success" if error_code is None else "failure",
            error_code=error_code,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    )
