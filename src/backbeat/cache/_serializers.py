"""Turning cached values into bytes and back, safely.

The default, :class:`MsgpackSerializer`, writes msgpack (compact, fast, and
readable by any language) with a typed envelope, as msgpack extension types,
for what JSON-like formats lose: ``tuple``, ``set``/``frozenset``, ``datetime``/
``date``/``time``/``timedelta``, ``UUID``, ``Decimal``, enums, dataclasses,
pydantic models, numpy arrays (numeric dtypes) and numpy scalars (as Python
numbers). Subclasses of ``dict``/``list``/``str``/``int`` come back as the plain type.

Why never pickle by default: unpickling runs arbitrary code chosen by whoever
wrote the bytes, and a shared Redis is writable by every service that can reach
it, so one compromised neighbour would become code execution in every reader.
Our envelope can only rebuild the types listed above; a dataclass or pydantic
model is resolved by its import path and must *be* a dataclass or a
``BaseModel`` subclass, so the worst a forged entry can do is build one of your
own data classes with wrong field values. :class:`PickleSerializer` exists as an
explicit opt-in for trusted, private caches only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import importlib
import pickle
import uuid
from typing import Any, Protocol, runtime_checkable

import msgpack

from backbeat.errors import CacheError

__all__ = ["MsgpackSerializer", "PickleSerializer", "Serializer"]


@runtime_checkable
class Serializer(Protocol):
    """Bytes in, value out. ``dumps`` raises ``CacheError`` for what it cannot encode."""

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


# Extension type codes; stable: they are part of what is stored in Redis.
_TUPLE, _SET, _FROZENSET, _DATETIME, _DATE, _TIME, _TIMEDELTA = 1, 2, 3, 4, 5, 6, 7
_UUID, _DECIMAL, _DATACLASS, _PYDANTIC, _NDARRAY, _ENUM, _PLAIN = 8, 9, 10, 11, 12, 13, 14


def _resolve(path: str) -> type:
    module, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, type):
        raise TypeError(f"{path} is not a class")
    return obj


def _type_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


class MsgpackSerializer:
    """msgpack with typed extensions; see the module docstring for the type list."""

    def dumps(self, value: Any) -> bytes:
        try:
            data: bytes = msgpack.packb(
                value, default=self._default, use_bin_type=True, datetime=False, strict_types=True
            )
            return data
        except CacheError:
            raise
        except (TypeError, ValueError, OverflowError) as e:
            raise _unserialisable(value, e) from e

    def loads(self, data: bytes) -> Any:
        return msgpack.unpackb(
            data, ext_hook=self._ext_hook, raw=False, strict_map_key=False, use_list=True
        )

    def _pack(self, value: Any) -> bytes:
        data: bytes = msgpack.packb(
            value, default=self._default, use_bin_type=True, datetime=False, strict_types=True
        )
        return data

    def _default(self, obj: Any) -> msgpack.ExtType:
        # msgpack calls this for every type that is not exactly one of its own
        # (strict_types), so tuples and subclasses arrive here too.
        if isinstance(obj, enum.Enum):
            return msgpack.ExtType(_ENUM, self._pack([_type_path(type(obj)), obj.value]))
        if isinstance(obj, tuple):
            return msgpack.ExtType(_TUPLE, self._pack(list(obj)))
        if isinstance(obj, frozenset):
            return msgpack.ExtType(_FROZENSET, self._pack(list(obj)))
        if isinstance(obj, set):
            return msgpack.ExtType(_SET, self._pack(list(obj)))
        if isinstance(obj, dt.datetime):
            return msgpack.ExtType(_DATETIME, obj.isoformat().encode())
        if isinstance(obj, dt.date):
            return msgpack.ExtType(_DATE, obj.isoformat().encode())
        if isinstance(obj, dt.time):
            return msgpack.ExtType(_TIME, obj.isoformat().encode())
        if isinstance(obj, dt.timedelta):
            return msgpack.ExtType(
                _TIMEDELTA, self._pack([obj.days, obj.seconds, obj.microseconds])
            )
        if isinstance(obj, uuid.UUID):
            return msgpack.ExtType(_UUID, obj.bytes)
        if isinstance(obj, decimal.Decimal):
            return msgpack.ExtType(_DECIMAL, str(obj).encode())
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}
            return msgpack.ExtType(_DATACLASS, self._pack([_type_path(type(obj)), fields]))
        if _is_pydantic(obj):
            data = obj.model_dump(mode="python")
            return msgpack.ExtType(_PYDANTIC, self._pack([_type_path(type(obj)), data]))
        if isinstance(obj, bool | int | float | str | bytes):  # subclasses of plain types
            return msgpack.ExtType(_PLAIN, self._pack(_plain(obj)))
        if isinstance(obj, dict):
            return msgpack.ExtType(_PLAIN, self._pack(dict(obj)))
        if isinstance(obj, list):
            return msgpack.ExtType(_PLAIN, self._pack(list(obj)))
        if _is_numpy(obj) and hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
            return msgpack.ExtType(_PLAIN, self._pack(obj.item()))
        if _is_ndarray(obj):
            if obj.dtype.hasobject:
                raise _unserialisable(obj, TypeError("object arrays are not supported"))
            import numpy as np

            arr = np.ascontiguousarray(obj)
            return msgpack.ExtType(
                _NDARRAY, self._pack([arr.dtype.str, list(arr.shape), arr.tobytes()])
            )
        raise _unserialisable(obj, TypeError("no encoding for this type"))

    def _ext_hook(self, code: int, data: bytes) -> Any:
        if code == _PLAIN:
            return self.loads(data)
        if code == _ENUM:
            path, value = self.loads(data)
            cls = _resolve(path)
            if not issubclass(cls, enum.Enum):
                raise TypeError(f"{path} is not an enum")
            return cls(value)
        if code == _TUPLE:
            return tuple(self.loads(data))
        if code == _SET:
            return set(self.loads(data))
        if code == _FROZENSET:
            return frozenset(self.loads(data))
        if code == _DATETIME:
            return dt.datetime.fromisoformat(data.decode())
        if code == _DATE:
            return dt.date.fromisoformat(data.decode())
        if code == _TIME:
            return dt.time.fromisoformat(data.decode())
        if code == _TIMEDELTA:
            days, seconds, micros = self.loads(data)
            return dt.timedelta(days=days, seconds=seconds, microseconds=micros)
        if code == _UUID:
            return uuid.UUID(bytes=data)
        if code == _DECIMAL:
            return decimal.Decimal(data.decode())
        if code == _DATACLASS:
            path, fields = self.loads(data)
            cls = _resolve(path)
            if not dataclasses.is_dataclass(cls):
                raise TypeError(f"{path} is not a dataclass")
            return cls(**fields)
        if code == _PYDANTIC:
            path, fields = self.loads(data)
            cls = _resolve(path)
            if not _is_pydantic_class(cls):
                raise TypeError(f"{path} is not a pydantic model")
            return cls.model_validate(fields)  # type: ignore[attr-defined]
        if code == _NDARRAY:
            import numpy as np

            dtype, shape, raw = self.loads(data)
            if np.dtype(dtype).hasobject:
                raise TypeError("object arrays are not supported")
            return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).copy()
        raise TypeError(f"unknown extension type {code}")


class PickleSerializer:
    """pickle: any Python object, **only for caches no one else can write to**.

    Reading a pickle runs code chosen by its writer; never use this on a Redis
    shared with other services. Opt in explicitly: ``RedisCache(..., serializer=
    PickleSerializer())``.
    """

    def dumps(self, value: Any) -> bytes:
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            raise _unserialisable(value, e) from e

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)  # noqa: S301 - explicit opt-in, documented above


def _is_pydantic(obj: Any) -> bool:
    return _is_pydantic_class(type(obj))


def _is_pydantic_class(cls: type) -> bool:
    try:
        from pydantic import BaseModel
    except ImportError:  # pragma: no cover - pydantic is a core dependency
        return False
    return issubclass(cls, BaseModel)


def _is_numpy(obj: Any) -> bool:
    return type(obj).__module__ == "numpy"


def _is_ndarray(obj: Any) -> bool:
    return _is_numpy(obj) and type(obj).__name__ == "ndarray"


def _plain(obj: bool | int | float | str | bytes) -> bool | int | float | str | bytes:
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, str):
        return str(obj)
    return bytes(obj)


def _unserialisable(value: Any, cause: BaseException) -> CacheError:
    return CacheError(
        "cache.unserialisable",
        details={"type": f"{type(value).__module__}.{type(value).__qualname__}"},
        message="A value of type {type} cannot be cached: it has no safe serialisation.",
    )
