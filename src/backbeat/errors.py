"""The one exception tree of backbeat.

Every error a caller can cause is a :class:`BackbeatError` with

- ``code``: a stable, dotted identifier (``validation.spotify_id``) that clients
  may switch on; it never changes once released;
- ``message_key``: the key of the human message in the i18n catalogs (defaults to
  ``code``);
- ``details``: JSON-safe data about *what* was wrong (a field name, a limit), never
  secret material: raisers pass what is safe to show to the person who caused it.

Catch at the level you care about, as with httpx's tree::

    try:
        ...
    except backbeat.errors.ValidationError as e:   # only bad input
        return {"error": e.code}
    except backbeat.errors.BackbeatError:          # anything of ours
        raise

``retryable`` tells generic code (``backbeat.core.retry``) whether trying again
can help: bad input and refused credentials never get better by waiting.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

__all__ = [
    "BackbeatError",
    "CacheError",
    "CircuitOpenError",
    "ConfigurationError",
    "NotFound",
    "OperationTimeout",
    "RateLimited",
    "SecurityError",
    "Unavailable",
    "ValidationError",
]


class _SafeFormatter(string.Formatter):
    """Fills ``{name}`` from details; a missing name stays visible instead of raising."""

    def get_value(self, key: int | str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, str) and key in kwargs:
            return kwargs[key]
        return "{" + str(key) + "}"


_FORMATTER = _SafeFormatter()


class BackbeatError(Exception):
    """Base of every error backbeat raises on purpose.

    Parameters
    ----------
    code:
        Stable dotted code; defaults to the class's ``default_code``.
    message_key:
        i18n catalog key; defaults to ``code``.
    details:
        JSON-safe context, also used to fill ``{placeholders}`` in the message.
    message:
        The English message template (``"{variable} must be ..."``). Translated
        catalogs are keyed by ``message_key`` (context) and this source text.
    message_plural:
        The English plural template, chosen by ``details["count"]``.
    """

    default_code: ClassVar[str] = "backbeat.error"
    default_message: ClassVar[str] = "An error occurred."
    http_status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        code: str | None = None,
        message_key: str | None = None,
        details: Mapping[str, Any] | None = None,
        *,
        message: str | None = None,
        message_plural: str | None = None,
    ) -> None:
        self.code: str = code or self.default_code
        self.message_key: str = message_key or self.code
        self.details: Mapping[str, Any] = MappingProxyType(dict(details or {}))
        self.template: str = message or self.default_message
        # With a plural form, details["count"] chooses between the two (and, once
        # translated, among the locale's CLDR plural forms).
        self.template_plural: str | None = message_plural
        super().__init__(self.message)

    @property
    def count(self) -> int | None:
        count = self.details.get("count")
        return count if isinstance(count, int) and self.template_plural else None

    @property
    def message(self) -> str:
        """The English message with details filled in."""
        template = self.template
        if self.count is not None and self.count != 1 and self.template_plural:
            template = self.template_plural
        return _FORMATTER.vformat(template, (), dict(self.details))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe representation: ``{"code", "message", "details"}``."""
        return {"code": self.code, "message": self.message, "details": dict(self.details)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ConfigurationError(BackbeatError):
    """Settings or wiring are wrong; raised at start-up, before serving anything."""

    default_code = "config.invalid"
    default_message = "The configuration is invalid."


class ValidationError(BackbeatError):
    """Input from a caller does not have the accepted form."""

    default_code = "validation.invalid"
    default_message = "The input is invalid."
    http_status = 400


class SecurityError(BackbeatError):
    """A credential, signature, token or ciphertext was refused."""

    default_code = "security.refused"
    default_message = "The request was refused."
    http_status = 401


class NotFound(BackbeatError):
    """The thing asked for does not exist (or is not visible to the caller)."""

    default_code = "not_found"
    default_message = "Not found."
    http_status = 404


class RateLimited(BackbeatError):
    """Too many requests; ``retry_after`` (seconds) says when to try again."""

    default_code = "ratelimit.exceeded"
    default_message = "Too many requests; retry after {retry_after} seconds."
    http_status = 429
    retryable = True

    def __init__(
        self,
        code: str | None = None,
        message_key: str | None = None,
        details: Mapping[str, Any] | None = None,
        *,
        retry_after: float = 0.0,
        message: str | None = None,
    ) -> None:
        self.retry_after = max(0.0, float(retry_after))
        merged = {"retry_after": round(self.retry_after, 3), **dict(details or {})}
        super().__init__(code, message_key, merged, message=message)


class CacheError(BackbeatError):
    """A value cannot be cached (unserialisable, bad key) or a cache was misused."""

    default_code = "cache.error"
    default_message = "The cache refused the operation."


class Unavailable(BackbeatError):
    """A dependency (Redis, the database, a remote API) cannot serve right now."""

    default_code = "unavailable"
    default_message = "A service backbeat depends on is unavailable."
    http_status = 503
    retryable = True


class OperationTimeout(Unavailable):
    """An operation ran past the time it was given."""

    default_code = "core.timeout"
    default_message = "The operation did not finish within {timeout} seconds."
    http_status = 504


class CircuitOpenError(Unavailable):
    """A circuit breaker is open: calls are refused without being attempted."""

    default_code = "core.circuit_open"
    default_message = "Circuit {name!r} is open; retry after {retry_after} seconds."

    def __init__(self, name: str, retry_after: float) -> None:
        self.name = name
        self.retry_after = max(0.0, retry_after)
        super().__init__(details={"name": name, "retry_after": round(self.retry_after, 3)})
