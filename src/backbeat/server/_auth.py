"""API-key authentication and scopes: ``Authorization: Bearer KEY``.

Keys are opaque (``bb_<id>_<secret>``, 256-bit secrets from :class:`ApiKeys`); the
database holds only the key id and an HMAC-SHA-256 of the secret, compared in
constant time. With secrets that long an unsalted hash is enough (the scheme of
GitHub's and Stripe's tokens); a slow password hash would only cost latency.
Scopes: ``read`` (GET), ``write`` (uploads, events), ``billing`` (billing events),
``admin`` (implies all).

With ``BACKBEAT_JWT_SECRET`` set, HS256 JWTs are accepted too (``sub``, ``exp``,
``aud`` = ``backbeat``, OAuth-style ``scope`` = ``"read write"``), verified by
:class:`~backbeat.security.TokenService` (algorithm pinned, expiry required).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request

from backbeat.errors import SecurityError
from backbeat.security import ApiKeys, JwtKey, TokenService

__all__ = [
    "SCOPES",
    "Forbidden",
    "Principal",
    "Unauthenticated",
    "api_key_scheme",
    "require",
    "token_service",
]

SCOPES = frozenset({"read", "write", "billing", "admin"})
api_key_scheme = ApiKeys(prefix="bb")


class Unauthenticated(SecurityError):
    default_code = "security.unauthenticated"
    default_message = "Send a valid API key: Authorization: Bearer KEY."
    http_status = 401


class Forbidden(SecurityError):
    default_code = "security.forbidden"
    default_message = "This API key may not do this: it lacks the {scope} scope."
    http_status = 403


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str  # an API key's id, or "jwt:<subject>"
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        return self.key_id if self.key_id.startswith("jwt:") else f"apikey:{self.key_id}"

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


async def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthenticated()
    presented = presented.strip()
    tokens = getattr(request.app.state, "tokens", None)
    if tokens is not None and presented.count(".") == 2:
        principal = _from_jwt(tokens, presented)
        request.state.principal = principal
        return principal
    catalogue = request.app.state.services.catalogue
    try:
        key_id = api_key_scheme.key_id(presented)
    except SecurityError:
        raise Unauthenticated() from None
    record = await catalogue.api_keys.get(key_id)
    if record is None or record.revoked_at is not None:
        raise Unauthenticated()
    if not api_key_scheme.verify(presented, record.hash):
        raise Unauthenticated()
    principal = Principal(record.key_id, record.scopes)
    request.state.principal = principal
    return principal


def _from_jwt(tokens: TokenService, token: str) -> Principal:
    try:
        claims = tokens.verify(token)
    except SecurityError:
        raise Unauthenticated() from None
    subject = claims.get("sub")
    scope = claims.get("scope", "")
    if not isinstance(subject, str) or not subject or not isinstance(scope, str):
        raise Unauthenticated()
    return Principal(f"jwt:{subject[:100]}", frozenset(scope.split()) & SCOPES)


def token_service(secret: str) -> TokenService:
    """The service's JWT verifier for ``BACKBEAT_JWT_SECRET``."""
    return TokenService([JwtKey.hmac(secret.encode(), kid="backbeat")], audience="backbeat")


def require(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency: the caller's key, which must allow ``scope``."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if not principal.allows(scope):
            raise Forbidden(details={"scope": scope})
        return principal

    return dependency
