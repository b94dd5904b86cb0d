"""Redaction: secrets never reach the audit log.

Keys matching the denylist are masked at any depth of dicts and lists. A key
matches when, lower-cased and stripped of ``-`` and ``_``, it contains a
denylist entry (``Authorization``, ``refresh_token``, ``X-Api-Key`` ...). With a
``hash_key``, masked values become ``hmac:<16 hex>`` (keyed HMAC-SHA256) so the
same secret can be correlated across events without being revealed; without it
they become ``[REDACTED]``. Values are made JSON-safe on the way: objects that
are not plain data are recorded by type name only, never by ``repr`` (which
may print secrets).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["DEFAULT_DENYLIST", "Redactor"]

DEFAULT_DENYLIST = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "authorization",
    "auth",
    "cookie",
    "session",
    "card",
    "cvv",
    "cvc",
    "iban",
    "ssn",
    "privatekey",
    "credential",
    "signature",
    "otp",
)


class Redactor:
    """Mask denylisted keys at any depth; make values JSON-safe."""

    def __init__(
        self, denylist: Iterable[str] = DEFAULT_DENYLIST, *, hash_key: bytes | None = None
    ) -> None:
        self.denylist = tuple(_norm(d) for d in denylist)
        self._hash_key = hash_key

    def is_sensitive(self, key: object) -> bool:
        k = _norm(str(key))
        return any(d in k for d in self.denylist)

    def mask(self, value: Any) -> str:
        if self._hash_key is None:
            return "[REDACTED]"
        data = json.dumps(value, sort_keys=True, default=str).encode()  # hashed, never stored
        return "hmac:" + hmac.new(self._hash_key, data, hashlib.sha256).hexdigest()[:16]

    def redact(self, value: Any, _depth: int = 0) -> Any:
        if _depth > 20:
            return "[TOO DEEP]"
        if isinstance(value, Mapping):
            return {
                str(k): self.mask(v) if self.is_sensitive(k) else self.redact(v, _depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact(v, _depth + 1) for v in value]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self.redact(
                {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, _depth + 1
            )
        if hasattr(value, "model_dump") and callable(value.model_dump):
            return self.redact(value.model_dump(mode="json"), _depth + 1)
        return self.jsonable(value)

    @staticmethod
    def jsonable(value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, bytes | bytearray):
            return f"<{len(value)} bytes>"
        return f"<{type(value).__name__}>"


def _norm(key: str) -> str:
    return key.lower().replace("-", "").replace("_", "")
