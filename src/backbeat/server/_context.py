"""Per-request context: a request id (``X-Request-ID``, echoed) and audit records.

The request id comes from the client's ``X-Request-ID`` when it is a sane token
(letters, digits, ``._-``, at most 100 characters), else a new UUID; it is set in
the audit context (with the client IP) for everything recorded during the
request, and returned in the response's ``X-Request-ID``. :func:`record_write`
appends an audit event for a write or admin action, its actor being the API key.
"""

from __future__ import annotations

import os
import re
from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backbeat.audit import AuditEvent, audit_context, canonical_details, current_context

__all__ = ["RequestContextMiddleware", "record_write"]

_SANE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next(
            (
                bytes(v).decode("latin-1")
                for k, v in scope.get("headers") or ()
                if k == b"x-request-id"
            ),
            "",
        )
        request_id = given if _SANE.match(given) else os.urandom(16).hex()
        client = scope.get("client")
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        with audit_context(request_id=request_id, client_ip=client[0] if client else None):
            await self.app(scope, receive, send_with_id)


async def record_write(
    request: Request,
    action: str,
    resource: str,
    details: dict[str, Any] | None = None,
    *,
    error_code: str | None = None,
) -> None:
    """Append an audit event (committed before the response) for a write by this key;
    with ``error_code``, a refused one (outcome ``failure``)."""
    principal = getattr(request.state, "principal", None)
    actor = principal.actor if principal is not None else None
    if actor is not None and actor.startswith("jwt:"):
        # an end user's token: named by their erasable reference, never their ID
        compliance = request.app.state.services.toolkit.compliance
        actor = "jwt:" + await compliance.subject_ref(actor.removeprefix("jwt:"))
    context = current_context()
    event = AuditEvent(
        action=action,
        actor=actor,
        resource=resource,
        request_id=context.request_id,
        client_ip=context.client_ip,
        details=canonical_details(details or {}),
        outcome="failure" if error_code else "success",
        error_code=error_code,
    )
    await request.app.state.services.toolkit.audit.record(event)
