from __future__ import annotations

import pytest

from backbeat.errors import (
    BackbeatError,
    CircuitOpenError,
    ConfigurationError,
    NotFound,
    OperationTimeout,
    RateLimited,
    SecurityError,
    Unavailable,
    ValidationError,
)


def test_code_message_key_and_details_are_kept() -> None:
    e = ValidationError(
        "validation.spotify_id", details={"value": "abc"}, message="{value!r} is not an ID."
    )
    assert e.code == "validation.spotify_id"
    assert e.message_key == "validation.spotify_id"
    assert e.details == {"value": "abc"}
    assert e.message == "'abc' is not an ID."
    assert str(e) == "'abc' is not an ID."


def test_defaults_come_from_the_class() -> None:
    e = NotFound()
    assert e.code == "not_found"
    assert e.http_status == 404
    assert e.to_dict() == {"code": "not_found", "message": "Not found.", "details": {}}


def test_missing_placeholder_stays_visible_instead_of_raising() -> None:
    e = BackbeatError("x.y", message="needs {absent}")
    assert e.message == "needs {absent}"


def test_details_are_read_only() -> None:
    e = BackbeatError(details={"a": 1})
    with pytest.raises(TypeError):
        e.details["a"] = 2  # type: ignore[index]


@pytest.mark.parametrize(
    ("cls", "parent"),
    [
        (ConfigurationError, BackbeatError),
        (ValidationError, BackbeatError),
        (SecurityError, BackbeatError),
        (NotFound, BackbeatError),
        (RateLimited, BackbeatError),
        (Unavailable, BackbeatError),
        (OperationTimeout, Unavailable),
        (CircuitOpenError, Unavailable),
    ],
)
def test_tree(cls: type, parent: type) -> None:
    assert issubclass(cls, parent)


def test_only_waitable_errors_are_retryable() -> None:
    assert RateLimited(retry_after=1).retryable
    assert Unavailable().retryable
    assert not ValidationError().retryable
    assert not SecurityError().retryable
    assert not ConfigurationError().retryable


def test_rate_limited_carries_retry_after() -> None:
    e = RateLimited(retry_after=2.5)
    assert e.retry_after == 2.5
    assert "2.5" in e.message
    assert e.http_status == 429


def test_circuit_open_names_the_circuit() -> None:
    e = CircuitOpenError("spotify", 3.0)
    assert e.code == "core.circuit_open"
    assert "spotify" in e.message
    assert e.retry_after == 3.0
