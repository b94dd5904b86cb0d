from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backbeat.core import DataProcessor, chunked, deep_merge, flatten, unflatten
from backbeat.errors import ValidationError


def test_nested_mappings_merge_key_by_key() -> None:
    base = {"db": {"host": "a", "port": 1}, "debug": False}
    assert deep_merge(base, {"db": {"port": 2}}) == {
        "db": {"host": "a", "port": 2},
        "debug": False,
    }


def test_overrides_apply_left_to_right() -> None:
    assert deep_merge({"a": 1}, {"a": 2}, {"a": 3}, {"b": 4}) == {"a": 3, "b": 4}


def test_inputs_are_never_mutated() -> None:
    base = {"a": {"b": [1, 2]}, "c": {"d": 1}}
    over = {"a": {"b": [3]}, "c": {"e": 2}}
    base_before, over_before = copy.deepcopy(base), copy.deepcopy(over)
    merged = deep_merge(base, over, lists="append")
    merged["a"]["b"].append(99)
    merged["c"]["d"] = 42
    assert base == base_before
    assert over == over_before


def test_result_does_not_alias_input_containers() -> None:
    base = {"only_in_base": {"x": [1]}}
    merged = deep_merge(base, {})
    merged["only_in_base"]["x"].append(2)
    assert base == {"only_in_base": {"x": [1]}}


@pytest.mark.parametrize(
    ("old", "new"),
    [({"x": 1}, 5), (5, {"x": 1}), ([1], {"x": 1}), ({"x": 1}, [1]), ({"x": 1}, None)],
)
def test_conflicting_types_take_the_override(old: Any, new: Any) -> None:
    assert deep_merge({"k": old}, {"k": new}) == {"k": new}


def test_lists_replace_by_default() -> None:
    assert deep_merge({"l": [1, 2]}, {"l": [3]}) == {"l": [3]}


def test_lists_append() -> None:
    assert deep_merge({"l": [1, 2]}, {"l": [2, 3]}, lists="append") == {"l": [1, 2, 2, 3]}


def test_lists_unique_keeps_first_seen_order_even_for_unhashables() -> None:
    merged = deep_merge({"l": [1, {"a": 1}, 2]}, {"l": [{"a": 1}, 3, 1]}, lists="unique")
    assert merged == {"l": [1, {"a": 1}, 2, 3]}


def test_unknown_list_strategy_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        deep_merge({}, {}, lists="zip")  # type: ignore[arg-type]
    assert info.value.code == "validation.list_strategy"


def test_non_mapping_argument_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        deep_merge({}, [1, 2])  # type: ignore[arg-type]
    assert info.value.code == "validation.not_a_mapping"


def test_seed_alias() -> None:
    assert DataProcessor.deep_merge({"a": {"b": 1}}, {"a": {"c": 2}}) == {"a": {"b": 1, "c": 2}}


def test_flatten_and_unflatten() -> None:
    nested = {"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}, "f": None}
    flat = {"a.b": 1, "a.c.d": [1, 2], "e": {}, "f": None}
    assert flatten(nested) == flat
    assert unflatten(flat) == nested


def test_flatten_custom_separator() -> None:
    assert flatten({"a": {"b": 1}}, sep="__") == {"a__b": 1}
    assert unflatten({"a__b": 1}, sep="__") == {"a": {"b": 1}}


@pytest.mark.parametrize("bad", [{"a.b": 1}, {"": 1}, {1: 2}])
def test_flatten_rejects_keys_it_could_not_restore(bad: dict[Any, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        flatten(bad)
    assert info.value.code == "validation.flatten_key"


@pytest.mark.parametrize("flat", [{"a": 1, "a.b": 2}, {"a.b": 2, "a": 1}, {"a": {}, "a.b": 1}])
def test_unflatten_rejects_leaf_and_parent_conflicts(flat: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        unflatten(flat)
    assert info.value.code == "validation.flatten_conflict"


def test_unflatten_rejects_empty_segments() -> None:
    with pytest.raises(ValidationError):
        unflatten({"a..b": 1})


def test_chunked() -> None:
    assert list(chunked(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunked([], 3)) == []


def test_chunked_is_lazy() -> None:
    def endless() -> Any:
        n = 0
        while True:
            yield n
            n += 1

    assert next(chunked(endless(), 2)) == [0, 1]


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_chunked_rejects_bad_sizes(size: Any) -> None:
    with pytest.raises(ValidationError):
        list(chunked([1], size))


# -- properties -------------------------------------------------------------------

keys = st.text(alphabet="abcxyz_-é", min_size=1, max_size=4)
leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.lists(st.integers())
trees = st.recursive(
    leaves, lambda children: st.dictionaries(keys, children, max_size=4), max_leaves=20
)
documents = st.dictionaries(keys, trees, max_size=5)


@given(documents)
def test_unflatten_inverts_flatten(doc: dict[str, Any]) -> None:
    assert unflatten(flatten(doc)) == doc


@given(documents)
def test_merge_with_empty_is_identity(doc: dict[str, Any]) -> None:
    assert deep_merge(doc, {}) == doc
    assert deep_merge({}, doc) == doc


@given(documents)
def test_merge_is_idempotent(doc: dict[str, Any]) -> None:
    assert deep_merge(doc, doc) == doc


@given(documents, documents, documents)
def test_several_overrides_are_a_left_fold(
    a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]
) -> None:
    assert deep_merge(a, b, c) == deep_merge(deep_merge(a, b), c)


def _conform(doc: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    """``doc`` without the paths where ``like`` has a mapping and ``doc`` not, or the reverse."""
    kept: dict[str, Any] = {}
    for key, value in doc.items():
        if key not in like:
            kept[key] = value
        elif isinstance(value, dict) and isinstance(like[key], dict):
            kept[key] = _conform(value, like[key])
        elif not isinstance(value, dict) and not isinstance(like[key], dict):
            kept[key] = value
    return kept


@given(documents, documents, documents)
def test_merge_is_associative_when_the_documents_agree_on_shape(
    a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]
) -> None:
    b = _conform(b, a)
    c = _conform(_conform(c, a), b)
    assert deep_merge(deep_merge(a, b), c) == deep_merge(a, deep_merge(b, c))


def test_a_scalar_that_replaced_a_mapping_is_not_merged_into_later() -> None:
    # The documented limit of associativity (found by Hypothesis): once b replaces
    # a's mapping with a scalar, c's mapping replaces the scalar; grouped the other
    # way, c's (empty) mapping merges into a's mapping.
    a, b, c = {"k": {"x": None}}, {"k": None}, {"k": {}}
    assert deep_merge(deep_merge(a, b), c) == {"k": {}}
    assert deep_merge(a, deep_merge(b, c)) == {"k": {"x": None}}
    assert deep_merge(a, b, c) == {"k": {}}  # overrides apply left to right


@given(documents, documents)
def test_every_override_leaf_wins(a: dict[str, Any], b: dict[str, Any]) -> None:
    merged = flatten(deep_merge(a, b))
    for path, value in flatten(b).items():
        if value == {}:
            continue  # an empty mapping merges into, not over, what was there
        assert merged[path] == value
