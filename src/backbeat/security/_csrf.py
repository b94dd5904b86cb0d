"""CSRF protection: signed double-submit tokens bound to the session, with expiry.

A token is ``<issued-at>.<random>.<HMAC-SHA256(secret, session id, issued-at, random)>``
(base64url parts). The server sets it in a cookie and the page sends it back in
a header (``X-CSRF-Token``); a cross-site attacker can make the browser send the
cookie but cannot read it to copy it into the header, and cannot mint a valid
token for the victim's session without the secret (OWASP CSRF Prevention Cheat
Sheet, "signed double-submit cookie").

:class:`CSRFMiddleware` enforces it on unsafe methods (POST, PUT, PATCH,
DELETE) of requests that carry the session cookie; requests without it are
not cookie-authenticated, so there is no ambient authority to forge.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any

from backbeat.errors import ValidationError
from backbeat.security._errors import CsrfError
from backbeat.security._keyring import b64url_decode, b64url_encode

__all__ = ["CSRFMiddleware", "CsrfTokens"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfTokens:
    """Issue and verify CSRF tokens for a session id.

    ``secret`` must be at least 32 bytes (derive it from the keyring, or
    ``os.urandom(32)`` kept in configuration). ``max_age`` is in seconds.
    """

    def __init__(
        self, secret: bytes, *, max_age: float = 12 * 3600, clock: Callable[[], float] = time.time
    ) -> None:
        if len(secret) < 32:
            raise ValidationError(
                "validation.csrf_secret", message="The CSRF secret needs at least 32 bytes."
            )
        self._secret = secret
        self.max_age = max_age
        self._clock = clock

    def _mac(self, session_id: str, issued: bytes, nonce: bytes) -> bytes:
        msg = b"csrf\x1f" + session_id.encode() + b"\x1f" + issued + nonce
        return hmac.new(self._secret, msg, hashlib.sha256).digest()

    def issue(self, session_id: str) -> str:
        issued = int(self._clock()).to_bytes(8, "big")
        nonce = os.urandom(16)
        mac = self._mac(session_id, issued, nonce)
        return ".".join(b64url_encode(p) for p in (issued, nonce, mac))

    def verify(self, token: str | None, session_id: str) -> None:
        """Return if valid; raise :class:`CsrfError` otherwise (missing, forged, expired)."""
        if not token or not isinstance(token, str):
            raise CsrfError()
        try:
            issued, nonce, mac = (b64url_decode(p) for p in token.split("."))
        except ValueError:
            raise CsrfError() from None
        if len(issued) != 8 or not hmac.compare_digest(mac, self._mac(session_id, issued, nonce)):
            raise CsrfError()
        age = self._clock() - int.from_bytes(issued, "big")
        if age > self.max_age or age < -60:
            raise CsrfError()


class CSRFMiddleware:
    """ASGI middleware: unsafe requests carrying the session cookie need a valid token.

    The token must be in the ``header_name`` header *and* equal the
    ``cookie_name`` cookie (double submit), and be valid for the session id
    found in ``session_cookie``. Refusals are ``403`` with backbeat's JSON error.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        tokens: CsrfTokens,
        session_cookie: str = "session",
        cookie_name: str = "csrf_token",
        header_name: str = "x-csrf-token",
        exempt_paths: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.session_cookie = session_cookie
        self.cookie_name = cookie_name
        self.header_name = header_name.lower().encode()
        self.exempt = tuple(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exempt = bool(self.exempt) and scope.get("path", "").startswith(self.exempt)
        if scope["type"] != "http" or scope["method"] not in _UNSAFE or exempt:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        cookies = SimpleCookie()
        cookies.load(headers.get(b"cookie", b"").decode("latin-1"))
        session = cookies.get(self.session_cookie)
        if session is None:
            await self.app(scope, receive, send)
            return
        header_token = headers.get(self.header_name, b"").decode("latin-1")
        cookie = cookies.get(self.cookie_name)
        try:
            if cookie is None or not hmac.compare_digest(
                cookie.value.encode(), header_token.encode()
            ):
                raise CsrfError()
            self.tokens.verify(header_token, session.value)
        except CsrfError as e:
            body = json.dumps(
                {"error": {"status": 403, "message": e.message, "code": e.code}}
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 403,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
