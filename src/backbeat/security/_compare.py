"""Timing-safe comparison."""

from __future__ import annotations

import hmac

__all__ = ["constant_time_compare"]


def constant_time_compare(a: str | bytes, b: str | bytes) -> bool:
    """``a == b`` in time that does not depend on where they differ (``hmac.compare_digest``).

    ``str`` arguments are compared as UTF-8 (``compare_digest`` itself refuses
    non-ASCII ``str``); a ``str`` and a ``bytes`` compare by their UTF-8 bytes.
    The length of the inputs may still leak, as with every such function.
    """
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)
