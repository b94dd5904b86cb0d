"""Probes that tell whether each configured backend answers, for ``/health``.

Each probe runs one trivial round trip (``PING``, ``SELECT 1``) under a timeout
and reports its latency. Reports never carry credentials: targets are shown
with the password masked, errors by class and a short reason.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import anyio

__all__ = ["BackendHealth", "HealthReport", "probe", "redact_url"]

Status = Literal["ok", "down"]


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe for logs and reports)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True, slots=True)
class BackendHealth:
    name: str
    kind: str
    status: Status
    target: str
    latency_ms: float | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class HealthReport:
    version: str
    backends: tuple[BackendHealth, ...] = field(default=())

    @property
    def status(self) -> Literal["ok", "degraded"]:
        return "ok" if all(b.status == "ok" for b in self.backends) else "degraded"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "version": self.version,
            "backends": {b.name: asdict(b) for b in self.backends},
        }


async def probe(
    name: str,
    kind: str,
    target: str,
    check: Callable[[], Awaitable[object]],
    *,
    timeout: float = 2.0,
    secret: str | None = None,
) -> BackendHealth:
    """Run ``check`` under ``timeout``; any failure is reported, not raised.

    ``secret`` (a password in the backend's URL) is masked if a driver's error
    message happens to quote it.
    """
    start = time.perf_counter()
    try:
        with anyio.fail_after(timeout):
            await check()
    except TimeoutError:
        return BackendHealth(name, kind, "down", target, error=f"no answer within {timeout}s")
    except Exception as e:  # a probe reports every failure; it must not crash /health
        reason = str(e).splitlines()[0][:200] if str(e) else ""
        if secret:
            reason = reason.replace(secret, "***")
        return BackendHealth(name, kind, "down", target, error=f"{type(e).__name__}: {reason}")
    latency = round((time.perf_counter() - start) * 1000, 3)
    return BackendHealth(name, kind, "ok", target, latency_ms=latency)
