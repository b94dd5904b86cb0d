"""``SecurityUtils``: the seed's namespace, kept for its users.

New code should use :class:`~backbeat.security.PasswordHasher`,
:class:`~backbeat.security.Keyring` and the functions directly.
"""

from __future__ import annotations

from typing import Any

from backbeat.security._compare import constant_time_compare
from backbeat.security._keyring import decrypt_sensitive_data, encrypt_sensitive_data
from backbeat.security._passwords import PasswordHasher
from backbeat.security._sanitize import sanitize_data, sanitize_html

__all__ = ["SecurityUtils"]

_HASHER: PasswordHasher | None = None


def _hasher() -> PasswordHasher:
    global _HASHER
    if _HASHER is None:
        _HASHER = PasswordHasher()
    return _HASHER


class SecurityUtils:
    """``SecurityUtils.hash_password(pw)``, ``.encrypt_sensitive_data(d, key)``, ..."""

    @staticmethod
    def hash_password(password: str) -> str:
        """An argon2id hash (see :class:`PasswordHasher` for the parameters)."""
        return _hasher().hash(password)

    @staticmethod
    def verify_password(hashed: str, password: str) -> bool:
        return _hasher().verify(hashed, password)

    encrypt_sensitive_data = staticmethod(encrypt_sensitive_data)
    decrypt_sensitive_data = staticmethod(decrypt_sensitive_data)
    constant_time_compare = staticmethod(constant_time_compare)
    sanitize_html = staticmethod(sanitize_html)

    @staticmethod
    def sanitize_data(data: Any) -> Any:
        return sanitize_data(data)
