"""Refused input, said precisely: which parameter, what it accepts, what was given.

pydantic's errors (the service's query parameters and JSON bodies, its ``metadata``
form field, each line of a ``backbeat import`` manifest) become one
:class:`~backbeat.errors.ValidationError` (``validation.invalid``, 400)
whose message names the field and, for the common cases, the bound or the type
expected, in the caller's language; broken JSON is reported with its line and
column. Anything rarer keeps pydantic's own English explanation after the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from backbeat.errors import ValidationError

__all__ = ["field_name", "invalid_input", "number_expected", "parse_json_model"]

M = TypeVar("M", bound=BaseModel)
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie", "form"})


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def field_name(loc: Sequence[Any], prefix: str | None = None) -> str:
    """A location as people write it.

    ``("query", "limit")`` -> ``limit``; ``("body", "events", 0, "kind")`` ->
    ``events[0].kind``.
    """
    parts = [str(p) for p in loc if p not in _LOCATIONS]
    if prefix:
        parts.insert(0, prefix)
    name = ""
    for part in parts:
        name += f"[{part}]" if part.isdigit() else (f".{part}" if name else part)
    return name or "request"


def invalid_input(error: Mapping[str, Any], prefix: str | None = None) -> ValidationError:
    """The :class:`ValidationError` for one pydantic error (an item of ``exc.errors()``);
    ``prefix`` names the object the error's location is inside (``metadata``)."""
    field = field_name(error.get("loc", ()), prefix)
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    given = _shown(error.get("input"))
    if kind == "missing":
        return ValidationError(
            "validation.invalid", details={"field": field}, message="{field} is required."
        )
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        key = {"greater_than_equal": "ge", "greater_than": "gt"}.get(kind) or (
            "le" if kind == "less_than_equal" else "lt"
        )
        details = {"field": field, "limit": ctx.get(key), "value": given}
        if kind == "greater_than_equal":
            return ValidationError(
                "validation.invalid",
                details=details,
                message="{field} must be at least {limit}; {value} was given.",
            )
        if kind == "less_than_equal":
            return ValidationError(
                "validation.invalid",
                details=details,
                message="{field} must be at most {limit}; {value} was given.",
            )
        if kind == "greater_than":
            return ValidationError(
                "validation.invalid",
                details=details,
                message="{field} must be greater than {limit}; {value} was given.",
            )
        return ValidationError(
            "validation.invalid",
            details=details,
            message="{field} must be less than {limit}; {value} was given.",
        )
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return ValidationError(
            "validation.invalid",
            details={"field": field, "value": given},
            message="{field} must be a whole number; {value} was given.",
        )
    if kind in ("float_parsing", "float_type"):
        return number_expected(field, given)
    problem = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return ValidationError(
        "validation.invalid",
        details={"field": field, "problem": problem},
        message="{field} is invalid: {problem}.",
    )


def number_expected(field: str, given: str) -> ValidationError:
    """``field`` must be a number; ``given`` is what was sent."""
    return ValidationError(
        "validation.invalid",
        details={"field": field, "value": given},
        message="{field} must be a number; {value} was given.",
    )


def parse_json_model(field: str, raw: str, model: type[M]) -> M:
    """Parse ``raw``, the JSON object held by ``field``, into ``model``; or raise a
    ``validation.invalid`` error naming the field and where the JSON broke or what
    the object lacks."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            "validation.invalid",
            details={"field": field, "problem": exc.msg, "line": exc.lineno, "column": exc.colno},
            message="{field} is not valid JSON: {problem} (line {line}, column {column}).",
        ) from None
    if not isinstance(data, dict):
        raise ValidationError(
            "validation.invalid",
            details={"field": field, "problem": "expected a JSON object"},
            message="{field} is invalid: {problem}.",
        )
    try:
        return model.model_validate(data)
    except PydanticError as exc:
        raise invalid_input(exc.errors()[0], prefix=field) from None
