from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import uuid
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from backbeat.cache import MsgpackSerializer, PickleSerializer
from backbeat.errors import CacheError


class Mode(enum.Enum):
    MINOR = 0
    MAJOR = 1


@dataclasses.dataclass(frozen=True)
class Features:
    tempo: float
    key: int
    mode: Mode
    tags: tuple[str, ...] = ()


class Track(BaseModel):
    id: str
    isrc: str | None = None
    released: dt.date


SAMPLES: list[Any] = [
    None,
    True,
    0,
    -(2**63),
    2**64 - 1,
    1.5,
    "é",
    b"\x00\xff",
    [1, [2]],
    {"a": {"b": 1}},
    {1: "int key"},
    (1, (2, 3)),
    {1, 2},
    frozenset({"x"}),
    dt.datetime(2024, 11, 27, 12, 0, tzinfo=dt.UTC),
    dt.datetime(2024, 1, 1, 1, 2, 3),
    dt.date(2024, 11, 27),
    dt.time(12, 30),
    dt.timedelta(days=1, microseconds=5),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    decimal.Decimal("0.10"),
    Mode.MAJOR,
    Features(120.0, 5, Mode.MINOR, ("a",)),
    Track(id="4iV5W9uYEdYUVa79Axb7Rh", released=dt.date(2020, 1, 2)),
    {"nested": [Features(1.0, 0, Mode.MAJOR)]},
]


@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: type(v).__name__)
def test_round_trip_keeps_value_and_type(value: Any) -> None:
    s = MsgpackSerializer()
    out = s.loads(s.dumps(value))
    assert out == value
    assert type(out) is type(value)


def test_numpy_arrays_and_scalars() -> None:
    s = MsgpackSerializer()
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = s.loads(s.dumps(arr))
    assert out.dtype == np.float32
    assert out.shape == (3, 4)
    assert np.array_equal(out, arr)
    assert out.flags.writeable
    assert s.loads(s.dumps(np.float64(2.5))) == 2.5


def test_unserialisable_value_names_the_type() -> None:
    class Opaque:
        pass

    with pytest.raises(CacheError) as info:
        MsgpackSerializer().dumps({"x": [Opaque()]})
    assert info.value.code == "cache.unserialisable"
    assert "Opaque" in info.value.message


def test_object_arrays_are_refused() -> None:
    with pytest.raises(CacheError):
        MsgpackSerializer().dumps(np.array([object()]))


def test_forged_entry_cannot_build_arbitrary_classes() -> None:
    s = MsgpackSerializer()
    # A dataclass envelope pointing at a function that is not a dataclass.
    forged = msgpack.packb(msgpack.ExtType(10, msgpack.packb(["os:system", {"command": "id"}])))
    with pytest.raises(TypeError):
        s.loads(forged)
    forged_model = msgpack.packb(
        msgpack.ExtType(11, msgpack.packb(["subprocess:Popen", {"args": "id"}]))
    )
    with pytest.raises(TypeError):
        s.loads(forged_model)


def test_pickle_is_opt_in_and_round_trips() -> None:
    s = PickleSerializer()
    assert s.loads(s.dumps({"a": (1, 2)})) == {"a": (1, 2)}
    with pytest.raises(CacheError):
        s.dumps(lambda: None)


json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda children: (
        st.lists(children) | st.tuples(children, children) | st.dictionaries(st.text(), children)
    ),
    max_leaves=15,
)


@given(json_like)
def test_round_trip_property(value: Any) -> None:
    s = MsgpackSerializer()
    assert s.loads(s.dumps(value)) == value
