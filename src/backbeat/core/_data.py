"""Plain-data helpers: deep merge, dotted flatten/unflatten, chunking.

They work on JSON-like data (mappings, lists, scalars) and never mutate their
inputs: every mapping, list, tuple and set in a result is a fresh container, so
changing the result cannot change a configuration it was merged from.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, TypeVar

from backbeat.errors import ValidationError

__all__ = ["ListStrategy", "chunked", "deep_merge", "flatten", "unflatten"]

T = TypeVar("T")
ListStrategy = Literal["replace", "append", "unique"]


def _fresh(value: Any) -> Any:
    """A copy of the container structure of ``value``; leaves are shared."""
    if isinstance(value, Mapping):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_fresh(v) for v in value)
    if isinstance(value, set):
        return set(value)
    return value


def _merge_lists(old: list[Any], new: list[Any], strategy: ListStrategy) -> list[Any]:
    if strategy == "replace":
        return [_fresh(v) for v in new]
    if strategy == "append":
        return [_fresh(v) for v in itertools.chain(old, new)]
    merged: list[Any] = []
    for item in itertools.chain(old, new):
        # Equality, not hashing, so unhashable items (dicts) de-duplicate too.
        if item not in merged:
            merged.append(_fresh(item))
    return merged


def _merge(
    base: Mapping[str, Any], override: Mapping[str, Any], lists: ListStrategy
) -> dict[str, Any]:
    out = {k: _fresh(v) for k, v in base.items()}
    for key, new in override.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            out[key] = _merge(old, new, lists)
        elif isinstance(old, list) and isinstance(new, list):
            out[key] = _merge_lists(old, new, lists)
        else:
            # Conflicting kinds (dict vs scalar, list vs dict...): the override wins.
            out[key] = _fresh(new)
    return out


def deep_merge(
    base: Mapping[str, Any],
    *overrides: Mapping[str, Any],
    lists: ListStrategy = "replace",
) -> dict[str, Any]:
    """Merge ``overrides`` into ``base``, left to right, recursively; inputs are untouched.

    Nested mappings merge key by key. Anything else in an override replaces what
    was there, including ``None`` and values of another kind. Lists replace by
    default; ``lists="append"`` concatenates, ``lists="unique"`` concatenates
    and drops later duplicates (by ``==``), keeping first-seen order.

    Several overrides are a left fold: ``deep_merge(a, b, c) ==
    deep_merge(deep_merge(a, b), c)``. The merge is associative when the documents
    agree on which paths hold mappings; it is not when an override replaces a mapping
    with a scalar and a later one brings a mapping back (``{"k": {"x": 1}}``,
    ``{"k": None}``, ``{"k": {}}``): applied in order the scalar has erased ``x``,
    while merging the last two first lets ``{}`` merge into ``{"x": 1}``.
    Idempotent (``deep_merge(a, a) == a``) and every leaf of the last override wins.

    >>> deep_merge({"db": {"host": "a", "port": 1}}, {"db": {"port": 2}})
    {'db': {'host': 'a', 'port': 2}}
    """
    if lists not in ("replace", "append", "unique"):
        raise ValidationError(
            "validation.list_strategy",
            details={"value": str(lists)},
            message="Unknown list strategy {value!r}; use replace, append or unique.",
        )
    for i, m in enumerate((base, *overrides)):
        if not isinstance(m, Mapping):
            raise ValidationError(
                "validation.not_a_mapping",
                details={"position": i, "type": type(m).__name__},
                message="deep_merge argument {position} is a {type}, not a mapping.",
            )
    result: dict[str, Any] = _fresh(base)
    for override in overrides:
        result = _merge(result, override, lists)
    return result


def _bad_key(key: object, sep: str) -> ValidationError:
    return ValidationError(
        "validation.flatten_key",
        details={"key": repr(key), "sep": sep},
        message="Key {key} cannot be flattened: keys must be non-empty strings without {sep!r}.",
    )


def flatten(data: Mapping[str, Any], *, sep: str = ".") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists and empty mappings are leaves.

    Raises ``ValidationError`` (``validation.flatten_key``) for a key that is not
    a non-empty string or that contains ``sep``: it could not be unflattened.
    """
    out: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if not isinstance(key, str) or not key or sep in key:
                raise _bad_key(key, sep)
            path = f"{prefix}{sep}{key}" if prefix else key
            if isinstance(value, Mapping) and value:
                walk(value, path)
            else:
                out[path] = _fresh(value)

    walk(data, "")
    return out


def unflatten(data: Mapping[str, Any], *, sep: str = ".") -> dict[str, Any]:
    """Inverse of :func:`flatten`: ``{"a.b": 1}`` -> ``{"a": {"b": 1}}``.

    Raises ``ValidationError`` (``validation.flatten_conflict``) when one key is
    both a leaf and a prefix of another (``{"a": 1, "a.b": 2}``).
    """
    out: dict[str, Any] = {}
    branches = {id(out)}  # dicts made here as parents, as opposed to leaf values
    for path, value in data.items():
        if not isinstance(path, str) or not path:
            raise _bad_key(path, sep)
        *parents, leaf = path.split(sep)
        if not all(parents) or not leaf:
            raise _bad_key(path, sep)
        node = out
        for part in parents:
            if part not in node:
                node[part] = {}
                branches.add(id(node[part]))
            node = node[part]
            if id(node) not in branches:
                raise _conflict(path)
        if leaf in node:
            raise _conflict(path)
        node[leaf] = _fresh(value)
    return out


def _conflict(path: str) -> ValidationError:
    return ValidationError(
        "validation.flatten_conflict",
        details={"key": path},
        message="Key {key!r} is both a value and a parent of other keys.",
    )


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Yield lists of ``size`` items (the last may be shorter); lazy on any iterable."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValidationError(
            "validation.chunk_size",
            details={"size": repr(size)},
            message="Chunk size must be a positive integer, got {size}.",
        )
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk
