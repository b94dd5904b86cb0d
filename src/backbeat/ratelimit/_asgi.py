"""ASGI middleware: per-route and per-API-key policies, 429 with standard headers.

Allowed responses carry ``RateLimit-Limit``, ``RateLimit-Remaining``,
``RateLimit-Reset`` (seconds) and ``RateLimit-Policy`` (``10;w=1``), the field
names of the IETF HTTPAPI draft *RateLimit header fields for HTTP*; refusals
are ``429`` with ``Retry-After`` and backbeat's JSON error body. A store outage
is ``503`` unless the limiter fails open.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from backbeat.errors import RateLimited, Unavailable
from backbeat.ratelimit._limiter import RateLimiter
from backbeat.ratelimit._model import Decision

__all__ = ["Policy", "RateLimitMiddleware", "api_key_or_ip", "client_ip"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
KeyFunc = Callable[[Scope], str | None]


def client_ip(scope: Scope) -> str | None:
    """The peer address (put a trusted proxy-headers middleware in front for X-Forwarded-For)."""
    client = scope.get("client")
    return f"ip:{client[0]}" if client else None


def api_key_or_ip(header: str = "x-api-key") -> KeyFunc:
    """Key by API key (hashed: secrets never become Redis keys), else by client IP."""
    wanted = header.lower().encode()

    def key(scope: Scope) -> str | None:
        for name, value in scope.get("headers") or ():
            if name == wanted and value:
                return "key:" + hashlib.sha256(value).hexdigest()[:32]
        return client_ip(scope)

    return key


@dataclass(frozen=True, slots=True)
class Policy:
    """Apply ``limiter`` to requests under ``path_prefix`` (and ``methods``, if given)."""

    limiter: RateLimiter
    path_prefix: str = "/"
    methods: frozenset[str] | None = None
    key: KeyFunc = client_ip
    cost: int = 1

    def matches(self, scope: Scope) -> bool:
        return scope["path"].startswith(self.path_prefix) and (
            self.methods is None or scope["method"] in self.methods
        )


def _headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(decision.limit.count).encode()),
        (b"ratelimit-remaining", str(decision.remaining).encode()),
        (b"ratelimit-reset", str(math.ceil(decision.reset_after)).encode()),
        (b"ratelimit-policy", str(decision.limit).encode()),
    ]


class RateLimitMiddleware:
    """The first matching :class:`Policy` decides; requests it cannot key pass through."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        policies: Sequence[Policy] | Iterable[Policy],
        on_decision: Callable[[Decision], None] | None = None,
    ) -> None:
        self.app = app
        self.policies = tuple(policies)
        self.on_decision = on_decision  # e.g. a metrics counter; called once per decision

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = next((p for p in self.policies if p.matches(scope)), None)
        key = policy.key(scope) if policy is not None else None
        if policy is None or key is None:
            await self.app(scope, receive, send)
            return
        try:
            decision = await policy.limiter.hit(key, policy.cost)
        except Unavailable as e:
            await _error(send, 503, e.message, e.code, [])
            return
        if self.on_decision is not None:
            self.on_decision(decision)
        if not decision.allowed:
            err = RateLimited(retry_after=decision.retry_after)
            retry = [(b"retry-after", str(max(1, math.ceil(decision.retry_after))).encode())]
            await _error(send, 429, err.message, err.code, retry + _headers(decision))
            return
        extra = _headers(decision)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _error(
    send: Send, status: int, message: str, code: str, headers: list[tuple[bytes, bytes]]
) -> None:
    body = json.dumps({"error": {"status": status, "message": message, "code": code}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})
