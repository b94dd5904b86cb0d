"""Cache keys for function calls: stable across processes, normalised by signature.

``<prefix>:<digest>``: the digest is BLAKE2b-128 of the call's arguments bound to
the signature (defaults applied, so ``f(1)`` and ``f(x=1)`` agree), in a canonical
msgpack encoding: mappings and sets sorted, so equal arguments give equal keys in
every process. Arguments it cannot encode raise ``CacheError``
(``cache.unkeyable_argument``) rather than falling back to ``repr``, which would
key on object identity.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import Any

from backbeat.cache._serializers import MsgpackSerializer
from backbeat.errors import CacheError

__all__ = ["CallKeys"]

_SCALARS = frozenset({str, int, float, bool, bytes, type(None)})
_CANON = MsgpackSerializer()


class CallKeys:
    """Builds the keys of one function's calls (with a memo for calls of plain scalars)."""

    def __init__(
        self, fn: Callable[..., Any], prefix: str, key_fn: Callable[..., object] | None
    ) -> None:
        self.prefix = prefix
        self.key_fn = key_fn
        self._signature = inspect.signature(fn)
        self._key_memo: dict[tuple[Any, ...], str] = {}

    def key_for(self, *args: Any, **kwargs: Any) -> str:
        """The cache key of a call with these arguments."""
        if self.key_fn is not None:
            return f"{self.prefix}:{self.key_fn(*args, **kwargs)}"
        # Memo for positional calls made only of plain scalars (the common case: IDs).
        # Types are part of the memo key: 1, 1.0 and True are equal but key differently.
        memo_key: tuple[Any, ...] | None = None
        if not kwargs:
            types = tuple(map(type, args))
            if _SCALARS.issuperset(types):
                memo_key = args + types
                hit = self._key_memo.get(memo_key)
                if hit is not None:
                    return hit
        key = self._build_key(args, kwargs)
        if memo_key is not None:
            if len(self._key_memo) >= 4096:
                self._key_memo.clear()
            self._key_memo[memo_key] = key
        return key

    def _build_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as e:
            raise CacheError(
                "cache.bad_arguments",
                details={"function": self.prefix, "reason": str(e)},
                message="Cannot build a cache key for {function}: {reason}.",
            ) from e
        bound.apply_defaults()
        try:
            blob = _CANON.dumps(_canonical(bound.arguments))
        except CacheError as e:
            raise CacheError(
                "cache.unkeyable_argument",
                details={"function": self.prefix, "type": e.details.get("type", "?")},
                message=(
                    "Cannot build a cache key for {function} from an argument of type "
                    "{type}; pass key=... to @cached."
                ),
            ) from e
        return f"{self.prefix}:{hashlib.blake2b(blob, digest_size=16).hexdigest()}"


def _canonical(value: Any) -> Any:
    """A structure whose msgpack encoding is identical for equal arguments."""
    if isinstance(value, dict):
        items = [(_canonical(k), _canonical(v)) for k, v in value.items()]
        return ["__dict__", sorted(items, key=lambda kv: _CANON.dumps(kv[0]))]
    if isinstance(value, set | frozenset):
        members = [_canonical(v) for v in value]
        return ["__set__", sorted(members, key=_CANON.dumps)]
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_canonical(v) for v in value)
    return value
