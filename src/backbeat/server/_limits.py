"""Rate limiting of ``/v1``: per API key (else client IP), reads and writes apart.

The limiters need the toolkit (Redis when ``REDIS_URL`` is set, so every process
shares the counts), which exists only once the app has started: the middleware is
built on the first request. Refusals are 429 with ``Retry-After`` in Spotify's
error shape; when the limiter's store is down, requests pass
(``BACKBEAT_RATE_LIMIT_FAIL_OPEN``, default true) or get 503.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from backbeat.ratelimit import Policy, RateLimitMiddleware, client_ip

__all__ = ["LazyRateLimit", "api_key_id"]

_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def api_key_id(scope: Scope) -> str | None:
    """``key:<public id>`` from ``Authorization: Bearer bb_<id>_<secret>``, else the IP.

    Only the public id is used (never the secret); an unverified id costs its owner
    nothing, since authentication still refuses the request.
    """
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            parts = bytes(value).decode("latin-1").split(" ", 1)
            if len(parts) == 2 and parts[0].lower() == "bearer":
                pieces = parts[1].strip().split("_", 2)
                if len(pieces) == 3 and len(pieces[1]) == 8 and pieces[1].isalnum():
                    return f"key:{pieces[1]}"
    ip: str | None = client_ip(scope)
    return ip


class LazyRateLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._limited: RateLimitMiddleware | None = None

    def _build(self, scope: Scope) -> RateLimitMiddleware:
        services: Any = scope["app"].state.services
        toolkit, settings = services.toolkit, services.settings
        fail_open = settings.rate_limit_fail_open
        reads = toolkit.rate_limiter(settings.rate_limit_read, fail_open=fail_open)
        writes = toolkit.rate_limiter(settings.rate_limit_write, fail_open=fail_open)
        policies = [
            Policy(reads, path_prefix="/v1/", methods=_READS, key=api_key_id),
            Policy(writes, path_prefix="/v1/", methods=_WRITES, key=api_key_id),
        ]
        metrics = scope["app"].state.metrics
        return RateLimitMiddleware(
            self.app,
            policies=policies,
            on_decision=lambda decision: metrics.observe_limiter(decision.allowed),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        if self._limited is None:
            self._limited = self._build(scope)
        await self._limited(scope, receive, send)
